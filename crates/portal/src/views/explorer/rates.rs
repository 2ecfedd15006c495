//! The explorer's figures: block rate and transactions per second from verified block
//! headers, and finality latency from the node's own (unverified) Prometheus report.

use crate::charts::Bar;
use prometheus_parse::{Scrape, Value};

/// At most this many time buckets in a rate chart.
const MAX_BUCKETS: usize = 12;
/// Blocks per bucket at least, on average: a bucket narrower than the gap between blocks
/// would show a rate of 0 next to a spike.
const BLOCKS_PER_BUCKET: usize = 5;

/// How many buckets a window of `blocks` blocks is divided into.
pub(super) fn bucket_count(blocks: usize) -> usize {
    (blocks / BLOCKS_PER_BUCKET).clamp(1, MAX_BUCKETS)
}

/// One verified block as the rate charts need it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) struct Sample {
    pub timestamp_ms: u64,
    pub txs: usize,
}

/// Blocks and transactions finalized during one stretch of the window.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) struct Bucket {
    /// Milliseconds from the window's newest block back to the bucket's start (negative
    /// time, written as a positive number).
    pub ago_ms: u64,
    pub span_ms: u64,
    pub blocks: usize,
    pub txs: usize,
}

impl Bucket {
    pub fn blocks_per_minute(&self) -> f64 {
        self.blocks as f64 * 60_000.0 / self.span_ms as f64
    }

    pub fn txs_per_second(&self) -> f64 {
        self.txs as f64 * 1_000.0 / self.span_ms as f64
    }

    /// The bucket's start, relative to the newest block (`-50s`).
    pub fn label(&self) -> String {
        format!("-{}s", self.ago_ms.div_ceil(1_000))
    }
}

/// Splits the blocks' time span into `count` equal buckets (oldest first) and counts the
/// blocks and transactions of each; a block at a bucket boundary goes to the later one. A
/// window whose blocks all share one timestamp has no rate: no buckets.
pub(super) fn buckets(samples: &[Sample], count: usize) -> Vec<Bucket> {
    let (Some(first), Some(last)) = (
        samples.iter().map(|s| s.timestamp_ms).min(),
        samples.iter().map(|s| s.timestamp_ms).max(),
    ) else {
        return Vec::new();
    };
    let span = last - first;
    if span == 0 || count == 0 {
        return Vec::new();
    }
    let width = span.div_ceil(count as u64).max(1);
    let mut buckets: Vec<Bucket> = (0..count as u64)
        .map(|index| Bucket {
            ago_ms: span.saturating_sub(index * width),
            span_ms: width,
            blocks: 0,
            txs: 0,
        })
        .collect();
    for sample in samples {
        let index = (((sample.timestamp_ms - first) / width) as usize).min(count - 1);
        buckets[index].blocks += 1;
        buckets[index].txs += sample.txs;
    }
    buckets
}

/// The node's finality latency histogram (`finalization_latency_seconds`): how long blocks
/// took from their proposal timestamp to the node's commit, since the node started.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct Latency {
    /// Blocks per bucket (not cumulative), by upper bound in seconds (`+Inf` last).
    pub buckets: Vec<(f64, f64)>,
    pub count: f64,
    pub sum: f64,
}

/// The metric's name in `crates/node/src/metrics.rs` (the runtime prefixes it).
const LATENCY_METRIC: &str = "finalization_latency_seconds";

impl Latency {
    /// Finds the histogram in a Prometheus text report; `None` if it is not there.
    pub fn parse(report: &str) -> Option<Self> {
        let scrape = Scrape::parse(report.lines().map(|line| Ok(line.to_owned()))).ok()?;
        let single = |suffix: &str| {
            scrape.samples.iter().find_map(|sample| {
                let named = sample
                    .metric
                    .ends_with(&format!("{LATENCY_METRIC}{suffix}"));
                match (&sample.value, named) {
                    (Value::Untyped(v) | Value::Counter(v) | Value::Gauge(v), true) => Some(*v),
                    _ => None,
                }
            })
        };
        let mut cumulative = scrape.samples.iter().find_map(|sample| {
            match (&sample.value, sample.metric.ends_with(LATENCY_METRIC)) {
                (Value::Histogram(counts), true) => Some(
                    counts
                        .iter()
                        .map(|count| (count.less_than, count.count))
                        .collect::<Vec<_>>(),
                ),
                _ => None,
            }
        })?;
        cumulative.sort_by(|a, b| a.0.total_cmp(&b.0));
        let mut below = 0.0;
        let buckets = cumulative
            .into_iter()
            .map(|(bound, total)| {
                let here = (total - below).max(0.0);
                below = total.max(below);
                (bound, here)
            })
            .collect();
        Some(Self {
            buckets,
            count: single("_count").unwrap_or(below),
            sum: single("_sum").unwrap_or(0.0),
        })
    }

    /// The mean latency in seconds, if any block was measured.
    pub fn mean(&self) -> Option<f64> {
        (self.count > 0.0).then(|| self.sum / self.count)
    }

    /// One bar per bucket: `≤ 0.5 s`, …, `> 10 s`.
    pub fn bars(&self) -> Vec<Bar> {
        let mut previous = None;
        self.buckets
            .iter()
            .map(|&(bound, blocks)| {
                let label = if bound.is_finite() {
                    format!("≤ {bound} s")
                } else {
                    format!("> {} s", previous.unwrap_or(0.0))
                };
                previous = Some(bound);
                Bar::new(label, blocks)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(timestamp_ms: u64, txs: usize) -> Sample {
        Sample { timestamp_ms, txs }
    }

    #[test]
    fn blocks_fall_into_equal_time_buckets() {
        // 0 s … 60 s, four buckets of 15 s.
        let samples = [
            sample(0, 1),
            sample(5_000, 0),
            sample(15_000, 10),
            sample(44_999, 3),
            sample(60_000, 2),
        ];
        let buckets = buckets(&samples, 4);
        let counts: Vec<(usize, usize)> = buckets.iter().map(|b| (b.blocks, b.txs)).collect();
        assert_eq!(counts, vec![(2, 1), (1, 10), (1, 3), (1, 2)]);
        assert_eq!(buckets[0].ago_ms, 60_000);
        assert_eq!(buckets[0].label(), "-60s");
        assert_eq!(buckets[3].label(), "-15s");
        assert_eq!(buckets[0].blocks_per_minute(), 8.0);
        assert!((buckets[1].txs_per_second() - 10.0 / 15.0).abs() < 1e-9);
    }

    #[test]
    fn a_window_without_time_has_no_rate() {
        assert!(buckets(&[], 12).is_empty());
        assert!(buckets(&[sample(7, 1)], 12).is_empty());
        assert!(buckets(&[sample(7, 1), sample(7, 2)], 12).is_empty());
        assert!(buckets(&[sample(0, 1), sample(9, 2)], 0).is_empty());
    }

    #[test]
    fn buckets_hold_several_blocks() {
        assert_eq!(bucket_count(0), 1);
        assert_eq!(bucket_count(9), 1);
        assert_eq!(bucket_count(10), 2);
        assert_eq!(bucket_count(120), 12);
        assert_eq!(bucket_count(10_000), 12);
    }

    #[test]
    fn a_short_span_still_counts_every_block() {
        let samples = [sample(0, 1), sample(1, 1), sample(2, 1)];
        let buckets = buckets(&samples, 12);
        assert_eq!(buckets.iter().map(|b| b.blocks).sum::<usize>(), 3);
    }

    /// The node's report as `prometheus-client` writes it (OpenMetrics text).
    const REPORT: &str = "\
# HELP medchain_finalized_height height of the last committed block.
# TYPE medchain_finalized_height gauge
medchain_finalized_height 41
# HELP medchain_finalization_latency_seconds time from a block's proposal timestamp to its local commit.
# TYPE medchain_finalization_latency_seconds histogram
medchain_finalization_latency_seconds_sum 7.5
medchain_finalization_latency_seconds_count 20
medchain_finalization_latency_seconds_bucket{le=\"0.1\"} 2
medchain_finalization_latency_seconds_bucket{le=\"0.5\"} 17
medchain_finalization_latency_seconds_bucket{le=\"1.0\"} 19
medchain_finalization_latency_seconds_bucket{le=\"+Inf\"} 20
# EOF
";

    #[test]
    fn the_latency_histogram_is_read_per_bucket() {
        let latency = Latency::parse(REPORT).expect("the histogram is there");
        assert_eq!(latency.count, 20.0);
        assert_eq!(latency.mean(), Some(7.5 / 20.0));
        let bars = latency.bars();
        let labels: Vec<&str> = bars.iter().map(|b| b.label.as_str()).collect();
        assert_eq!(labels, vec!["≤ 0.1 s", "≤ 0.5 s", "≤ 1 s", "> 1 s"]);
        let values: Vec<f64> = bars.iter().map(|b| b.value).collect();
        assert_eq!(values, vec![2.0, 15.0, 2.0, 1.0]);
    }

    #[test]
    fn a_report_without_the_histogram_gives_none() {
        assert_eq!(Latency::parse("medchain_finalized_height 41\n"), None);
        assert_eq!(Latency::parse("not prometheus at all {{{"), None);
        assert_eq!(Latency::parse(""), None);
    }

    #[test]
    fn a_fresh_node_has_no_mean() {
        let report = "\
# TYPE x_finalization_latency_seconds histogram
x_finalization_latency_seconds_sum 0
x_finalization_latency_seconds_count 0
x_finalization_latency_seconds_bucket{le=\"+Inf\"} 0
";
        let latency = Latency::parse(report).unwrap();
        assert_eq!(latency.mean(), None);
        assert_eq!(latency.bars()[0].label, "> 0 s");
    }
}
