//! Times as people read them — UTC, RFC 3339 — beside the raw unix milliseconds the chain
//! stores, and dates as people type them.

use chrono::{DateTime, NaiveDate, SecondsFormat};
use medchain_client::build::ExpirySpec;
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

/// Parses a date as typed after `--until`: RFC 3339 (`2026-12-31T18:00:00Z`, any offset) or a
/// calendar day (`2026-12-31`, meaning its start, 00:00 UTC). Returns unix milliseconds.
pub fn parse_date(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let millis = DateTime::parse_from_rfc3339(text)
        .map(|time| time.timestamp_millis())
        .or_else(|_| {
            NaiveDate::parse_from_str(text, "%Y-%m-%d").map(|day| {
                day.and_time(chrono::NaiveTime::MIN)
                    .and_utc()
                    .timestamp_millis()
            })
        })
        .map_err(|_| {
            format!(
                "{} is not a date like 2026-12-31 or 2026-12-31T18:00:00Z",
                medchain_client::api::echo(text)
            )
        })?;
    u64::try_from(millis).map_err(|_| "dates before 1970 are not accepted".to_string())
}

/// Parses a licence expiry as typed after `--expires`: a duration from now (`365d`, see
/// `medchain_client::build::parse_duration`) or a date as [`parse_date`] reads it.
pub fn parse_deadline(text: &str) -> Result<ExpirySpec, String> {
    if let Ok(duration) = medchain_client::build::parse_duration(text) {
        return Ok(ExpirySpec::For(duration));
    }
    parse_date(text).map(ExpirySpec::AtTimeMs).map_err(|_| {
        format!(
            "{} is neither a duration like 365d nor a date like 2026-12-31",
            medchain_client::api::echo(text)
        )
    })
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
    fn times_read_as_rfc3339_utc_and_dates_parse_back() {
        assert_eq!(utc(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(utc(1_797_901_755_558), "2026-12-22T01:09:15.558Z");
        assert!(utc(u64::MAX).contains("beyond the calendar"));
        assert_eq!(
            parse_date("2026-12-22T01:09:15.558Z").unwrap(),
            1_797_901_755_558
        );
        assert_eq!(
            parse_date("2026-12-22T02:09:15.558+01:00").unwrap(),
            1_797_901_755_558
        );
        assert_eq!(parse_date("1970-01-02").unwrap(), 86_400_000);
        for bad in ["", "30d", "2026-13-01", "tomorrow", "1969-12-31"] {
            assert!(parse_date(bad).is_err(), "{bad:?} accepted");
        }
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
    fn licence_expiries_are_durations_or_dates() {
        assert_eq!(
            parse_deadline("30d").unwrap(),
            ExpirySpec::For(std::time::Duration::from_secs(30 * 86_400))
        );
        assert_eq!(
            parse_deadline("1970-01-02").unwrap(),
            ExpirySpec::AtTimeMs(86_400_000)
        );
        for bad in ["", "soon", "30x", "2026-13-01"] {
            let error = parse_deadline(bad).unwrap_err();
            assert!(error.contains("neither a duration"), "{bad:?}: {error}");
        }
    }

    #[test]
    fn spans_read_coarsely() {
        assert_eq!(span(1_500), "1.5 s");
        assert_eq!(span(125_000), "2 min 5 s");
        assert_eq!(span(3 * 3_600_000 + 20 * 60_000), "3 h 20 min");
        assert_eq!(span(2 * 86_400_000 + 4 * 3_600_000), "2 d 4 h");
    }
}
