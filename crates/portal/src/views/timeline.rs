//! The access timeline of a patient's history page: every logged request as a mark over time,
//! one lane each for allowed, denied and break-glass, drawn as inline SVG on the server.

use crate::layout;
use maud::{Markup, html};
use medchain_state::values::AccessLogEntry;
use medchain_types::AccessDecision;

const WIDTH: f64 = 720.0;
const HEIGHT: f64 = 150.0;
/// Room left of the plot for the lane names.
const LEFT: f64 = 90.0;
const RIGHT: f64 = 16.0;
const MARK: f64 = 5.0;

/// The three lanes, top to bottom: the `data-access-kind` they hold and their label.
const LANES: [(&str, &str); 3] = [
    ("allowed", "allowed"),
    ("denied", "denied"),
    ("break_glass", "break-glass"),
];

/// Where time `at` falls on a plot of `width` from `first` to `last`; a single instant sits
/// in the middle.
pub(super) fn x_position(at: u64, first: u64, last: u64, width: f64) -> f64 {
    if last <= first {
        return width / 2.0;
    }
    let offset = at.clamp(first, last) - first;
    // Milliseconds fit an f64 exactly well past any calendar date a block can carry.
    width * offset as f64 / (last - first) as f64
}

fn lane_y(kind: &str) -> f64 {
    let lane = LANES
        .iter()
        .position(|(name, _)| *name == kind)
        .unwrap_or(0);
    30.0 + 35.0 * lane as f64
}

/// The chart (`svg#access-timeline`).
pub(super) fn access_timeline(entries: &[AccessLogEntry]) -> Markup {
    let first = entries
        .iter()
        .map(|entry| entry.timestamp_ms)
        .min()
        .unwrap_or(0);
    let last = entries
        .iter()
        .map(|entry| entry.timestamp_ms)
        .max()
        .unwrap_or(0);
    let plot = WIDTH - LEFT - RIGHT;
    let label = format!(
        "Timeline of {} accesses: allowed, denied and break-glass, by time",
        entries.len()
    );
    html! {
        figure class="timeline" {
            svg id="access-timeline" class="chart" viewBox={ "0 0 " (WIDTH) " " (HEIGHT) }
                role="img" aria-label=(label) xmlns="http://www.w3.org/2000/svg" {
                title { (label) }
                @for (kind, name) in LANES {
                    text x="8" y=(lane_y(kind) + 4.0) { (name) }
                    line class="lane" x1=(LEFT) x2=(WIDTH - RIGHT) y1=(lane_y(kind)) y2=(lane_y(kind))
                        stroke="#d0d7de" {}
                }
                @if entries.is_empty() {
                    text x=(LEFT + plot / 2.0) y=(HEIGHT / 2.0) text-anchor="middle" { "no access yet" }
                }
                @for (seq, entry) in entries.iter().enumerate() {
                    (mark(seq, entry, LEFT + x_position(entry.timestamp_ms, first, last, plot)))
                }
                @if !entries.is_empty() {
                    text x=(LEFT) y=(HEIGHT - 8.0) { (day(first)) }
                    text x=(WIDTH - RIGHT) y=(HEIGHT - 8.0) text-anchor="end" { (day(last)) }
                }
            }
            figcaption {
                "Green dots: allowed. Red crosses: denied. Purple diamonds: break-glass. "
                @if !entries.is_empty() { "From " (layout::time(first)) " to " (layout::time(last)) "." }
            }
        }
    }
}

/// One access: a dot (allowed), a cross (denied) or a diamond (break-glass), with its
/// details as the tooltip.
fn mark(seq: usize, entry: &AccessLogEntry, x: f64) -> Markup {
    let kind = entry.decision.kind();
    let y = lane_y(kind);
    let tip = format!("#{seq} {kind} · block {}", entry.height);
    html! {
        g class={ "mark " (kind) } data-kind=(kind) {
            title { (tip) }
            @match entry.decision {
                AccessDecision::Allowed { .. } => {
                    circle cx=(x) cy=(y) r=(MARK) fill="#1a7f37" {}
                }
                AccessDecision::Denied { .. } => {
                    path d=(format!("M{} {}L{} {}M{} {}L{} {}", x - MARK, y - MARK, x + MARK, y + MARK, x - MARK, y + MARK, x + MARK, y - MARK))
                        stroke="#b42318" stroke-width="2.5" {}
                }
                AccessDecision::BreakGlass { .. } => {
                    polygon points=(format!("{x},{} {},{y} {x},{} {},{y}", y - MARK - 1.0, x + MARK + 1.0, y + MARK + 1.0, x - MARK - 1.0))
                        fill="#8250df" {}
                }
            }
        }
    }
}

/// The calendar day of a timestamp, UTC (axis labels; the caption has the exact times).
fn day(ms: u64) -> String {
    i64::try_from(ms)
        .ok()
        .and_then(chrono::DateTime::from_timestamp_millis)
        .map(|at| at.format("%Y-%m-%d").to_string())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use medchain_state::testkit::{address, record_id};
    use medchain_types::{DenyReason, EmergencyId, Hash32, Purpose, TxId};

    fn entry(timestamp_ms: u64, decision: AccessDecision) -> AccessLogEntry {
        AccessLogEntry {
            requester: address(2),
            record: record_id(1),
            purpose: Purpose::Treatment,
            decision,
            height: timestamp_ms / 1000,
            timestamp_ms,
            tx: TxId(Hash32::from([7; 32])),
            served_by: None,
        }
    }

    #[test]
    fn times_scale_linearly_across_the_plot() {
        assert_eq!(x_position(1_000, 1_000, 3_000, 600.0), 0.0);
        assert_eq!(x_position(2_000, 1_000, 3_000, 600.0), 300.0);
        assert_eq!(x_position(3_000, 1_000, 3_000, 600.0), 600.0);
        // Outside the span is clamped to its ends; one instant sits in the middle.
        assert_eq!(x_position(9_000, 1_000, 3_000, 600.0), 600.0);
        assert_eq!(x_position(5, 5, 5, 600.0), 300.0);
        assert_eq!(x_position(u64::MAX, 0, u64::MAX, 10.0), 10.0);
    }

    #[test]
    fn each_kind_of_access_gets_its_own_mark_and_lane() {
        let entries = [
            entry(1_000, AccessDecision::Allowed { consent: None }),
            entry(
                2_000,
                AccessDecision::Denied {
                    reason: DenyReason::NoConsent,
                },
            ),
            entry(
                3_000,
                AccessDecision::BreakGlass {
                    emergency: EmergencyId(Hash32::from([1; 32])),
                },
            ),
        ];
        let svg = access_timeline(&entries).into_string();
        assert!(svg.contains(r#"<svg id="access-timeline""#), "{svg}");
        assert!(
            svg.contains(r#"data-kind="allowed""#) && svg.contains("<circle"),
            "{svg}"
        );
        assert!(
            svg.contains(r#"data-kind="denied""#) && svg.contains("<path"),
            "{svg}"
        );
        assert!(
            svg.contains(r#"data-kind="break_glass""#) && svg.contains("<polygon"),
            "{svg}"
        );
        // The first access is at the plot's left edge, the last at its right edge.
        assert!(svg.contains(&format!(r#"cx="{LEFT}""#)), "{svg}");
        assert!(
            svg.contains(&format!(
                "{},{}",
                WIDTH - RIGHT,
                lane_y("break_glass") - MARK - 1.0
            )),
            "{svg}"
        );
        assert_ne!(lane_y("allowed"), lane_y("denied"));
    }

    #[test]
    fn an_empty_log_still_draws_the_chart_and_says_so() {
        let svg = access_timeline(&[]).into_string();
        assert!(
            svg.contains("access-timeline") && svg.contains("no access yet"),
            "{svg}"
        );
    }
}
