//! How attribute values become the unsigned 64-bit integers the circuit compares.
//!
//! Every encoding is *order-preserving* and maps present values into `1..=u64::MAX`, leaving
//! `0` for [`MISSING`](crate::record::MISSING). The circuit compares values as 64-bit unsigned
//! integers (range-checked, S4-flow step 4), so a clause `low ≤ v ≤ high` on encoded values means
//! exactly the same comparison on the original values.
//!
//! | kind | original value | encoded value |
//! |---|---|---|
//! | integer, quantity, date | signed `x` (quantities scaled by `10^decimals`, dates as days since 1970-01-01) | `x + 2^63` (two's complement with the sign bit flipped); `i64::MIN` is refused |
//! | ICD-10 | code such as `E11.9` | base-37 digits of the 7 characters without the dot, left-aligned, blank = 0, `0-9` = 1–10, `A-Z` = 11–36 |
//! | code table | one of the listed codes | its position + 1 |

use chrono::NaiveDate;

/// Longest ICD-10 code without its dot (ICD-10-CM: 3-character category + up to 4 more).
const ICD10_MAX_CHARS: u32 = 7;
const ICD10_RADIX: u64 = 37;
const SIGN_FLIP: u64 = 1 << 63;

/// Encodes a signed integer; `i64::MIN` would collide with the missing marker.
pub(crate) fn encode_signed(value: i64) -> Result<u64, String> {
    if value == i64::MIN {
        return Err("value out of range".into());
    }
    Ok((value as u64) ^ SIGN_FLIP)
}

/// Inverse of [`encode_signed`].
#[cfg(test)]
pub(crate) fn decode_signed(encoded: u64) -> i64 {
    (encoded ^ SIGN_FLIP) as i64
}

/// Parses an exact decimal (`-12.5`, `7`, `1e-3`, `6.50`) into an integer scaled by
/// `10^decimals`. Refuses values that need more fractional digits than `decimals`: rounding
/// would silently move values across a study's thresholds.
pub(crate) fn parse_decimal(text: &str, decimals: u8) -> Result<i64, String> {
    let bad = || format!("`{text}` is not a decimal number");
    let (mantissa, exponent) = match text.find(['e', 'E']) {
        Some(at) => {
            let exponent: i32 = text[at + 1..].parse().map_err(|_| bad())?;
            (&text[..at], exponent)
        }
        None => (text, 0),
    };
    let (negative, unsigned) = match mantissa.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, mantissa.strip_prefix('+').unwrap_or(mantissa)),
    };
    let (whole, fraction) = unsigned.split_once('.').unwrap_or((unsigned, ""));
    if whole.is_empty() && fraction.is_empty()
        || !whole
            .bytes()
            .chain(fraction.bytes())
            .all(|b| b.is_ascii_digit())
    {
        return Err(bad());
    }
    // value = digits * 10^(exponent - fraction.len()); we want value * 10^decimals.
    let digits = format!("{whole}{fraction}");
    let digits = digits.trim_start_matches('0');
    let shift = i64::from(exponent) - fraction.len() as i64 + i64::from(decimals);
    let scaled = scale_digits(digits, shift)
        .ok_or_else(|| format!("`{text}` has more than {decimals} decimals or is out of range"))?;
    Ok(if negative { -scaled } else { scaled })
}

/// `digits * 10^shift` as an exact `i64`, or `None` if inexact or too large.
fn scale_digits(digits: &str, shift: i64) -> Option<i64> {
    if digits.is_empty() {
        return Some(0);
    }
    let (kept, dropped) = if shift < 0 {
        let cut = digits.len().checked_sub(shift.unsigned_abs() as usize)?;
        digits.split_at(cut)
    } else {
        (digits, "")
    };
    if dropped.bytes().any(|b| b != b'0') {
        return None;
    }
    let mut value: i64 = if kept.is_empty() {
        0
    } else {
        kept.parse().ok()?
    };
    for _ in 0..shift.max(0) {
        value = value.checked_mul(10)?;
    }
    Some(value)
}

/// Days since 1970-01-01 of an ISO `YYYY-MM-DD` date.
pub(crate) fn parse_date(text: &str) -> Result<i64, String> {
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .map(days_since_epoch)
        .map_err(|e| format!("`{text}` is not a YYYY-MM-DD date: {e}"))
}

pub(crate) fn days_since_epoch(date: NaiveDate) -> i64 {
    date.signed_duration_since(NaiveDate::default()).num_days()
}

/// The inclusive encoded range covered by an ICD-10 code: the code itself and all its
/// sub-codes (`E11` covers `E11`, `E11.9`, `E11.65`…), because sub-codes extend the prefix.
pub(crate) fn icd10_range(code: &str) -> Result<(u64, u64), String> {
    let chars = normalise_icd10(code)?;
    let mut low = 0u64;
    for position in 0..ICD10_MAX_CHARS as usize {
        low = low * ICD10_RADIX + chars.get(position).map_or(0, |c| icd10_digit(*c));
    }
    let free_positions = ICD10_MAX_CHARS - chars.len() as u32;
    Ok((low, low + ICD10_RADIX.pow(free_positions) - 1))
}

/// Encoded value of a recorded ICD-10 code.
#[cfg(test)]
pub(crate) fn encode_icd10(code: &str) -> Result<u64, String> {
    icd10_range(code).map(|(low, _)| low)
}

/// Upper-cases, drops one dot, checks `letter, digit, 1..=5 alphanumerics` (ICD-10-CM shape).
fn normalise_icd10(code: &str) -> Result<Vec<u8>, String> {
    let upper = code.trim().to_ascii_uppercase();
    let chars: Vec<u8> = upper.bytes().filter(|b| *b != b'.').collect();
    let dots = upper.len() - chars.len();
    let valid = dots <= 1
        && (3..=ICD10_MAX_CHARS as usize).contains(&chars.len())
        && chars[0].is_ascii_uppercase()
        && chars[1].is_ascii_digit()
        && chars.iter().all(u8::is_ascii_alphanumeric);
    if valid {
        Ok(chars)
    } else {
        Err(format!("`{code}` is not an ICD-10 code"))
    }
}

fn icd10_digit(c: u8) -> u64 {
    match c {
        b'0'..=b'9' => u64::from(c - b'0') + 1,
        _ => u64::from(c - b'A') + 11,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn decimals_are_exact_and_over_precise_values_are_refused() {
        assert_eq!(parse_decimal("6.5", 3), Ok(6500));
        assert_eq!(parse_decimal("-12.125", 3), Ok(-12125));
        assert_eq!(parse_decimal("140", 3), Ok(140_000));
        assert_eq!(parse_decimal("0.71", 3), Ok(710));
        assert_eq!(parse_decimal("1e-3", 3), Ok(1));
        assert_eq!(parse_decimal("2.50E1", 0), Ok(25));
        assert_eq!(parse_decimal(".5", 1), Ok(5));
        assert!(parse_decimal("0.0001", 3).is_err());
        assert!(parse_decimal("1e30", 3).is_err());
        for bad in ["", "-", ".", "1.2.3", "abc", "1e", "--1", "1_0"] {
            assert!(parse_decimal(bad, 3).is_err(), "{bad}");
        }
    }

    #[test]
    fn icd10_codes_cover_their_subcodes_and_nothing_else() {
        let (low, high) = icd10_range("E11").expect("valid");
        for inside in ["E11", "E11.9", "e11.65", "E11.9ZZZ"] {
            let v = encode_icd10(inside).expect("valid");
            assert!((low..=high).contains(&v), "{inside}");
        }
        for outside in ["E10.9", "E12", "E1", "D11"]
            .iter()
            .filter_map(|c| encode_icd10(c).ok())
        {
            assert!(!(low..=high).contains(&outside));
        }
        assert!(encode_icd10("E1").is_err());
        assert!(encode_icd10("11E").is_err());
        assert!(encode_icd10("E11..9").is_err());
        assert!(encode_icd10("E11.92345").is_err());
        assert!(encode_icd10("E1_1").is_err());
        assert!(encode_icd10("EE1").is_err());
    }

    #[test]
    fn dates_count_days_from_the_unix_epoch() {
        assert_eq!(parse_date("1970-01-01"), Ok(0));
        assert_eq!(parse_date("1969-12-31"), Ok(-1));
        assert_eq!(parse_date("2026-01-01"), Ok(20454));
        assert!(parse_date("2026-02-30").is_err());
        assert!(parse_date("2026").is_err());
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn signed_encoding_preserves_order_and_avoids_missing(a in (i64::MIN + 1).., b in (i64::MIN + 1)..) {
            let (ea, eb) = (encode_signed(a).expect("in range"), encode_signed(b).expect("in range"));
            prop_assert_ne!(ea, 0);
            prop_assert_eq!(a.cmp(&b), ea.cmp(&eb));
            prop_assert_eq!(decode_signed(ea), a);
        }

        #[test]
        fn decimal_parsing_matches_integer_arithmetic(units in -1_000_000_000i64..1_000_000_000, milli in 0u32..1000) {
            let sign = if units < 0 { "-" } else { "" };
            let text = format!("{sign}{}.{milli:03}", units.unsigned_abs());
            let magnitude = units.abs() * 1000 + i64::from(milli);
            prop_assert_eq!(parse_decimal(&text, 3), Ok(if units < 0 { -magnitude } else { magnitude }));
        }

        #[test]
        fn icd10_order_is_lexicographic(a in "[A-Z][0-9]{2}(\\.[0-9A-Z]{1,4})?", b in "[A-Z][0-9]{2}(\\.[0-9A-Z]{1,4})?") {
            let key = |c: &str| c.replace('.', "");
            let (ea, eb) = (encode_icd10(&a).expect("valid"), encode_icd10(&b).expect("valid"));
            prop_assert_eq!(key(&a).cmp(&key(&b)), ea.cmp(&eb));
        }
    }
}
