//! Charts as inline SVG, rendered on the server with maud (so they escape their labels like
//! any other markup, and need no script): a bar chart over labelled buckets, with a value
//! axis rounded to a readable maximum. Each bar carries a `<title>` with its exact value,
//! and the chart an `aria-label` summing it up, for readers who cannot see it.

use maud::{Markup, html};

/// The drawing's size in SVG user units (it scales to the page's width).
const WIDTH: f64 = 640.0;
const HEIGHT: f64 = 220.0;
/// Room for the value axis labels (left), the bucket labels (bottom) and breathing space.
const LEFT: f64 = 52.0;
const RIGHT: f64 = 10.0;
const TOP: f64 = 12.0;
const BOTTOM: f64 = 36.0;
/// At most this many bucket labels are written under the bars (others are in the titles).
const MAX_LABELS: usize = 8;
/// Value axis lines drawn between 0 and the maximum.
const TICKS: usize = 4;

/// One bar: what it counts (shown under it) and its value.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Bar {
    pub label: String,
    pub value: f64,
}

impl Bar {
    pub(crate) fn new(label: impl Into<String>, value: f64) -> Self {
        Self {
            label: label.into(),
            value,
        }
    }
}

/// A chart's identity and captions.
pub(crate) struct Chart<'a> {
    /// The element id (deep links and tests find the chart by it).
    pub id: &'a str,
    /// What it shows, as its `<title>` and `aria-label`.
    pub title: &'a str,
    /// The unit of the values (`blocks/min`, `tx/s`, `s`).
    pub unit: &'a str,
}

/// The value axis: from 0 to a round maximum at or above the largest value.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Scale {
    top: f64,
}

impl Scale {
    /// A scale whose top is the smallest of 1, 2 or 5 times a power of ten that is at least
    /// `max` (and 1 when there is nothing above 0), so the axis reads in round steps.
    pub(crate) fn covering(max: f64) -> Self {
        if !max.is_finite() || max <= 0.0 {
            return Self { top: 1.0 };
        }
        let power = 10f64.powf(max.log10().floor());
        let top = [1.0, 2.0, 5.0, 10.0]
            .iter()
            .map(|step| step * power)
            .find(|top| *top >= max)
            .unwrap_or(10.0 * power);
        Self { top }
    }

    /// Where `value` falls between 0 (bottom) and 1 (top); out-of-range and non-numbers are
    /// clamped, so a bad value cannot draw outside the chart.
    pub(crate) fn fraction(&self, value: f64) -> f64 {
        if value.is_nan() {
            return 0.0;
        }
        (value / self.top).clamp(0.0, 1.0)
    }

    /// The axis values labelled: 0, then [`TICKS`] equal steps to the top.
    pub(crate) fn ticks(&self) -> Vec<f64> {
        (0..=TICKS)
            .map(|step| self.top * step as f64 / TICKS as f64)
            .collect()
    }
}

/// A number as a chart label: whole numbers plainly, others with up to two decimals.
pub(crate) fn format_value(value: f64) -> String {
    if !value.is_finite() {
        return "–".into();
    }
    if (value - value.round()).abs() < 1e-9 {
        return format!("{}", value.round() as i64);
    }
    let text = format!("{value:.2}");
    text.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// Which bucket labels to write: every `n`-th, so at most [`MAX_LABELS`] are shown.
fn label_every(bars: usize) -> usize {
    bars.div_ceil(MAX_LABELS).max(1)
}

/// A bar chart of `bars`, left to right. With no bars it says there is nothing to draw.
pub(crate) fn bar_chart(chart: &Chart<'_>, bars: &[Bar]) -> Markup {
    let scale = Scale::covering(bars.iter().map(|bar| bar.value).fold(0.0, f64::max));
    let plot_width = WIDTH - LEFT - RIGHT;
    let plot_height = HEIGHT - TOP - BOTTOM;
    let slot = plot_width / bars.len().max(1) as f64;
    let every = label_every(bars.len());
    let summary = summary(chart, bars);
    let y = |value: f64| TOP + plot_height * (1.0 - scale.fraction(value));
    html! {
        svg class="chart" id=(chart.id) viewBox={ "0 0 " (WIDTH) " " (HEIGHT) }
            role="img" aria-label=(summary) xmlns="http://www.w3.org/2000/svg" {
            title { (chart.title) }
            desc { (summary) }
            @for tick in scale.ticks() {
                line class="grid" x1=(LEFT) x2=(WIDTH - RIGHT) y1=(y(tick)) y2=(y(tick))
                    stroke="#d0d7de" stroke-width="1" {}
                text x=(LEFT - 6.0) y=(y(tick) + 4.0) text-anchor="end" { (format_value(tick)) }
            }
            text x="4" y=(TOP + 4.0) { (chart.unit) }
            @if bars.is_empty() {
                text x=(LEFT + plot_width / 2.0) y=(TOP + plot_height / 2.0) text-anchor="middle" {
                    "no data yet"
                }
            }
            @for (index, bar) in bars.iter().enumerate() {
                @let x = LEFT + slot * index as f64;
                @let top = y(bar.value);
                rect class="bar" x=(x + slot * 0.1) y=(top) width=(slot * 0.8)
                    height=(TOP + plot_height - top) fill="#0b5cad" {
                    title { (bar.label) ": " (format_value(bar.value)) " " (chart.unit) }
                }
                @if index % every == 0 {
                    text x=(x + slot / 2.0) y=(HEIGHT - BOTTOM + 16.0) text-anchor="middle" {
                        (bar.label)
                    }
                }
            }
        }
    }
}

/// The chart in one sentence: its title, the number of bars and the largest value.
fn summary(chart: &Chart<'_>, bars: &[Bar]) -> String {
    match bars.iter().max_by(|a, b| a.value.total_cmp(&b.value)) {
        Some(peak) => format!(
            "{}: {} bars, highest {} {} ({})",
            chart.title,
            bars.len(),
            format_value(peak.value),
            chart.unit,
            peak.label
        ),
        None => format!("{}: no data yet", chart.title),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_scale_tops_at_a_round_value_at_or_above_the_maximum() {
        for (max, top) in [
            (0.0, 1.0),
            (-3.0, 1.0),
            (f64::NAN, 1.0),
            (f64::INFINITY, 1.0),
            (0.3, 0.5),
            (1.0, 1.0),
            (7.0, 10.0),
            (12.0, 20.0),
            (100.0, 100.0),
            (101.0, 200.0),
            (4_999.0, 5_000.0),
        ] {
            let scale = Scale::covering(max);
            assert!(
                (scale.top - top).abs() < 1e-9,
                "max {max}: top {} instead of {top}",
                scale.top
            );
        }
    }

    #[test]
    fn fractions_are_clamped_to_the_chart() {
        let scale = Scale::covering(10.0);
        assert_eq!(scale.fraction(5.0), 0.5);
        assert_eq!(scale.fraction(-1.0), 0.0);
        assert_eq!(scale.fraction(1e9), 1.0);
        assert_eq!(scale.fraction(f64::NAN), 0.0);
        assert_eq!(scale.ticks(), vec![0.0, 2.5, 5.0, 7.5, 10.0]);
    }

    #[test]
    fn values_read_as_short_numbers() {
        assert_eq!(format_value(3.0), "3");
        assert_eq!(format_value(2.5), "2.5");
        assert_eq!(format_value(0.126), "0.13");
        assert_eq!(format_value(f64::NAN), "–");
    }

    #[test]
    fn bars_are_as_tall_as_their_values_and_labels_are_escaped() {
        let chart = Chart {
            id: "rate",
            title: "Blocks per minute",
            unit: "blocks/min",
        };
        let svg = bar_chart(
            &chart,
            &[
                Bar::new("<b>", 10.0),
                Bar::new("b", 5.0),
                Bar::new("c", 0.0),
            ],
        )
        .into_string();
        assert!(svg.contains(r#"id="rate""#));
        assert!(svg.contains("&lt;b&gt;") && !svg.contains("<b>"));
        let plot = HEIGHT - TOP - BOTTOM;
        let heights: Vec<f64> = svg
            .split(r#"class="bar""#)
            .skip(1)
            .map(|rest| {
                let at = rest.find("height=\"").unwrap() + 8;
                rest[at..rest[at..].find('"').unwrap() + at]
                    .parse()
                    .unwrap()
            })
            .collect();
        assert_eq!(heights, vec![plot, plot / 2.0, 0.0]);
        assert!(svg.contains("highest 10 blocks/min (&lt;b&gt;)"));
    }

    #[test]
    fn an_empty_chart_says_so() {
        let chart = Chart {
            id: "empty",
            title: "Nothing",
            unit: "tx/s",
        };
        let svg = bar_chart(&chart, &[]).into_string();
        assert!(svg.contains("no data yet"));
        assert!(!svg.contains(r#"class="bar""#));
    }

    #[test]
    fn at_most_eight_bucket_labels_are_written() {
        assert_eq!(label_every(0), 1);
        assert_eq!(label_every(8), 1);
        assert_eq!(label_every(9), 2);
        assert_eq!(label_every(24), 3);
    }
}
