//! Times as people read them — UTC, RFC 3339 — beside the raw unix milliseconds the chain
//! stores (dates as people type them are read by `medchain_client::build::parse_date`).

use chrono::{DateTime, SecondsFormat};
use serde_json::Value;

/// Unix milliseconds as RFC 3339 UTC, e.g. `2026-05-01T10:00:00.123Z`.
pub fn utc(millis: u64) -> String {
    i64::try_from(millis)
        .ok()
        .and_then(DateTime::from_timestamp_millis)
        .map_or_else(
            || format!("{millis} ms (beyond the calendar)"),
            |time| time.to_rfc3339_opts(SecondsFormat::Millis, true),
        )
}

/// Both forms: `2026-05-01T10:00:00.123Z (unix ms 1777629600123)`.
pub fn both(millis: u64) -> String {
    format!("{} (unix ms {millis})", utc(millis))
}

/// A duration in words, coarsely: `45 s`, `12 min 5 s`, `3 h 20 min`, `2 d 4 h`.
pub fn span(millis: u64) -> String {
    let seconds = millis / 1000;
    let (minutes, hours, days) = (seconds / 60, seconds / 3600, seconds / 86_400);
    if days > 0 {
        format!("{days} d {} h", hours % 24)
    } else if hours > 0 {
        format!("{hours} h {} min", minutes % 60)
    } else if minutes > 0 {
        format!("{minutes} min {} s", seconds % 60)
    } else {
        format!("{seconds}.{} s", (millis % 1000) / 100)
    }
}

/// Fields of the chain's JSON values that hold unix milliseconds.
const TIME_FIELDS: [&str; 5] = [
    "timestamp_ms",
    "at_time",
    "saved_at_ms",
    "genesis_time_ms",
    "expires_at_ms",
];

/// Adds a readable twin beside every time field of `value`, at any depth: `timestamp_ms` gets
/// `timestamp_utc`, `at_time` gets `at_time_utc`. The raw fields stay as they are.
pub fn annotate(value: &mut Value) {
    match value {
        Value::Object(fields) => {
            let twins: Vec<(String, Value)> = fields
                .iter()
                .filter(|(name, _)| TIME_FIELDS.contains(&name.as_str()))
                .filter_map(|(name, raw)| {
                    let twin = format!("{}_utc", name.trim_end_matches("_ms"));
                    raw.as_u64()
                        .map(|millis| (twin, Value::String(utc(millis))))
                })
                .collect();
            fields.values_mut().for_each(annotate);
            fields.extend(twins);
        }
        Value::Array(items) => items.iter_mut().for_each(annotate),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn times_read_as_rfc3339_utc() {
        assert_eq!(utc(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(utc(1_797_901_755_558), "2026-12-22T01:09:15.558Z");
        assert!(utc(u64::MAX).contains("beyond the calendar"));
    }

    #[test]
    fn time_fields_get_a_readable_twin_at_any_depth() {
        let mut value = json!({
            "timestamp_ms": 0,
            "expiry": { "at_time": 86_400_000 },
            "entries": [{ "entry": { "timestamp_ms": 1000, "height": 7 } }],
        });
        annotate(&mut value);
        assert_eq!(value["timestamp_utc"], "1970-01-01T00:00:00.000Z");
        assert_eq!(value["timestamp_ms"], 0);
        assert_eq!(value["expiry"]["at_time_utc"], "1970-01-02T00:00:00.000Z");
        assert_eq!(
            value["entries"][0]["entry"]["timestamp_utc"],
            "1970-01-01T00:00:01.000Z"
        );
        assert!(value["entries"][0]["entry"].get("height_utc").is_none());
    }

    #[test]
    fn spans_read_coarsely() {
        assert_eq!(span(1_500), "1.5 s");
        assert_eq!(span(125_000), "2 min 5 s");
        assert_eq!(span(3 * 3_600_000 + 20 * 60_000), "3 h 20 min");
        assert_eq!(span(2 * 86_400_000 + 4 * 3_600_000), "2 d 4 h");
    }
}
