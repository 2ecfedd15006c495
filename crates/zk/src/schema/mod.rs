//! Attribute schemas: attribute name → index range, encoding and FHIR source.
//!
//! The schema is the one vocabulary shared by the hospital (FHIR bundle → attribute vector, see
//! [`crate::fhir`]) and the research institution (predicate text → clauses, see
//! [`crate::Predicate::parse`]). A *multi-valued* attribute (e.g. `icd10`, the patient's
//! diagnoses) occupies several consecutive indices (slots); a clause on it asks whether *some*
//! slot matches, and the prover picks the slot privately.

mod clinical;
pub(crate) mod encoding;

use crate::error::{Result, ZkError};
use crate::record::{MISSING, Record};
use crate::shape::MAX_ATTRIBUTES;

/// How an attribute's values are written and compared (see [`encoding`] for the bit layout).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Encoding {
    /// Signed whole number (e.g. age in years).
    Integer,
    /// Signed fixed-point decimal: the value times `10^decimals`, with its UCUM unit. FHIR
    /// quantities in another unit are refused rather than converted.
    Quantity {
        /// Fractional digits kept; values needing more are refused, never rounded.
        decimals: u8,
        /// UCUM code the FHIR `valueQuantity.code` must carry.
        unit: String,
    },
    /// Calendar date, as days since 1970-01-01.
    Date,
    /// ICD-10 / ICD-10-CM code; a code in a predicate also matches all its sub-codes.
    Icd10,
    /// Closed code table; only equality tests make sense.
    Table(Vec<String>),
}

/// Where the FHIR mapping takes an attribute from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FhirSource {
    /// Whole years between `Patient.birthDate` and the attestation date.
    PatientAge,
    /// `Patient.birthDate`.
    PatientBirthDate,
    /// `Patient.gender`.
    PatientGender,
    /// Codes of active, not refuted `Condition`s.
    ConditionIcd10,
    /// Latest final `Observation` (or observation component) value with one of these LOINC codes.
    ObservationLoinc(Vec<String>),
    /// Not filled from FHIR (left missing).
    None,
}

/// One named attribute of a schema.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attribute {
    name: String,
    encoding: Encoding,
    slots: u32,
    source: FhirSource,
}

impl Attribute {
    /// A single-valued attribute.
    pub fn new(name: &str, encoding: Encoding, source: FhirSource) -> Self {
        Self {
            name: name.to_owned(),
            encoding,
            slots: 1,
            source,
        }
    }

    /// A multi-valued attribute holding up to `slots` values (sorted ascending, missing last).
    pub fn multi(name: &str, encoding: Encoding, slots: u32, source: FhirSource) -> Self {
        Self {
            slots,
            ..Self::new(name, encoding, source)
        }
    }

    /// The name used in predicate text.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The value encoding.
    pub fn encoding(&self) -> &Encoding {
        &self.encoding
    }

    /// Number of consecutive indices (1 for single-valued attributes).
    pub fn slots(&self) -> u32 {
        self.slots
    }

    /// The FHIR source.
    pub fn source(&self) -> &FhirSource {
        &self.source
    }

    /// Encodes a literal written in predicate text into the inclusive range of encoded values it
    /// denotes (one value, except ICD-10 codes, which cover their sub-codes).
    pub(crate) fn literal_range(&self, text: &str) -> Result<(u64, u64)> {
        let error = |reason: String| ZkError::Encoding {
            attribute: self.name.clone(),
            reason,
        };
        let point = |value: std::result::Result<i64, String>| {
            value
                .and_then(encoding::encode_signed)
                .map(|v| (v, v))
                .map_err(error)
        };
        match &self.encoding {
            Encoding::Integer => point(encoding::parse_decimal(text, 0)),
            Encoding::Quantity { decimals, .. } => point(encoding::parse_decimal(text, *decimals)),
            Encoding::Date => point(encoding::parse_date(text)),
            Encoding::Icd10 => encoding::icd10_range(text).map_err(error),
            Encoding::Table(codes) => self.table_value(codes, text).map(|v| (v, v)),
        }
    }

    fn table_value(&self, codes: &[String], text: &str) -> Result<u64> {
        codes
            .iter()
            .position(|code| code.eq_ignore_ascii_case(text))
            .map(|position| position as u64 + 1)
            .ok_or_else(|| ZkError::Encoding {
                attribute: self.name.clone(),
                reason: format!("`{text}` is not one of {}", codes.join(", ")),
            })
    }

    /// Encodes one recorded value given as text (FHIR codes, decimals, dates).
    pub(crate) fn encode_text(&self, text: &str) -> Result<u64> {
        self.literal_range(text).map(|(low, _)| low)
    }
}

/// An ordered list of attributes; attribute `i` occupies the indices after those of `0..i`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schema {
    id: &'static str,
    attributes: Vec<Attribute>,
    offsets: Vec<u32>,
    num_attributes: u32,
}

impl Schema {
    /// Validates the id (`[a-z][a-z0-9_]*`, at most 32 bytes, versioned like `clinical_v1`),
    /// attribute names (unique, `[a-z][a-z0-9_]*`, not a keyword of the predicate text), slot
    /// counts (≥ 1) and the total size (≤ 2^20 indices).
    ///
    /// The id is hashed into every commitment and predicate digest made with the schema: two
    /// schemas with different ids never accept each other's commitments, even with the same `N`.
    pub fn new(id: &'static str, attributes: Vec<Attribute>) -> Result<Self> {
        check_schema_id(id)?;
        let mut offsets = Vec::with_capacity(attributes.len());
        let mut total: u32 = 0;
        for (i, attribute) in attributes.iter().enumerate() {
            validate_name(&attribute.name)?;
            if attributes[..i].iter().any(|a| a.name == attribute.name) {
                return Err(ZkError::InvalidSchema(format!(
                    "duplicate `{}`",
                    attribute.name
                )));
            }
            if attribute.slots == 0 {
                return Err(ZkError::InvalidSchema(format!(
                    "`{}` has no slots",
                    attribute.name
                )));
            }
            offsets.push(total);
            total = total
                .checked_add(attribute.slots)
                .filter(|t| *t <= MAX_ATTRIBUTES)
                .ok_or_else(|| ZkError::InvalidSchema("too many attribute slots".into()))?;
        }
        if total == 0 {
            return Err(ZkError::InvalidSchema("no attributes".into()));
        }
        Ok(Self {
            id,
            attributes,
            offsets,
            num_attributes: total,
        })
    }

    /// The built-in clinical schema, version 1 (documented in the crate README).
    pub fn clinical_v1() -> Self {
        clinical::schema()
    }

    /// The schema id, e.g. `clinical_v1`.
    pub fn id(&self) -> &'static str {
        self.id
    }

    /// `N`: total number of indices (record length).
    pub fn num_attributes(&self) -> u32 {
        self.num_attributes
    }

    /// The attributes in index order.
    pub fn attributes(&self) -> &[Attribute] {
        &self.attributes
    }

    /// Looks an attribute up by name, with its first index.
    pub fn get(&self, name: &str) -> Option<(u32, &Attribute)> {
        let position = self.attributes.iter().position(|a| a.name == name)?;
        Some((self.offsets[position], &self.attributes[position]))
    }

    /// Attributes with their first index.
    pub fn indexed(&self) -> impl Iterator<Item = (u32, &Attribute)> {
        self.offsets.iter().copied().zip(&self.attributes)
    }

    /// Builds a record from `(name, value text)` pairs, e.g. `("hba1c", "6.8")`,
    /// `("icd10", "E11.9")`; a multi-valued attribute may be named repeatedly. Unnamed
    /// attributes are missing. (Hospitals holding FHIR use [`crate::record_from_bundle`].)
    pub fn encode(&self, values: &[(&str, &str)]) -> Result<Record> {
        let mut record = vec![MISSING; self.num_attributes as usize];
        for (offset, attribute) in self.indexed() {
            let start = offset as usize;
            let slots = &mut record[start..start + attribute.slots as usize];
            let mut given = values.iter().filter(|(name, _)| *name == attribute.name);
            for (slot, (_, text)) in slots.iter_mut().zip(given.by_ref()) {
                *slot = attribute.encode_text(text)?;
            }
            if given.next().is_some() {
                return Err(ZkError::Encoding {
                    attribute: attribute.name.clone(),
                    reason: format!("more than {} values", attribute.slots),
                });
            }
            slots.sort_unstable_by_key(|v| (*v == MISSING, *v));
        }
        if let Some((name, _)) = values.iter().find(|(name, _)| self.get(name).is_none()) {
            return Err(ZkError::Encoding {
                attribute: (*name).to_owned(),
                reason: "not in the schema".into(),
            });
        }
        Record::new(record)
    }
}

/// Longest schema id.
pub(crate) const MAX_SCHEMA_ID: usize = 32;

/// A schema id is `[a-z][a-z0-9_]*`, 1 to 32 bytes.
pub(crate) fn check_schema_id(id: &str) -> Result<()> {
    let mut bytes = id.bytes();
    let valid = id.len() <= MAX_SCHEMA_ID
        && bytes.next().is_some_and(|b| b.is_ascii_lowercase())
        && bytes.all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if valid {
        Ok(())
    } else {
        Err(ZkError::InvalidSchema(format!("bad schema id `{id}`")))
    }
}

/// The schema id as a field element, hashed into commitments and predicate digests.
pub(crate) fn schema_tag(id: &str) -> crate::poseidon::Fr {
    crate::poseidon::hash_to_field(b"medchain/zk/schema/v1", id.as_bytes())
}

/// Keywords of the predicate text form, which cannot name attributes.
const RESERVED: [&str; 4] = ["and", "or", "in", "not"];

fn validate_name(name: &str) -> Result<()> {
    let mut bytes = name.bytes();
    let valid = bytes.next().is_some_and(|b| b.is_ascii_lowercase())
        && bytes.all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        && !RESERVED.contains(&name);
    if valid {
        Ok(())
    } else {
        Err(ZkError::InvalidSchema(format!(
            "bad attribute name `{name}`"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clinical_schema_lays_out_indices_in_order() {
        let schema = Schema::clinical_v1();
        let (age, _) = schema.get("age").expect("age");
        let (icd, icd10) = schema.get("icd10").expect("icd10");
        let (hba1c, _) = schema.get("hba1c").expect("hba1c");
        assert_eq!(age, 0);
        assert!(icd10.slots() > 1);
        assert!(hba1c >= icd + icd10.slots());
        let total: u32 = schema.attributes().iter().map(Attribute::slots).sum();
        assert_eq!(schema.num_attributes(), total);
        assert!(schema.get("nonexistent").is_none());
    }

    #[test]
    fn invalid_schemas_are_refused() {
        let int = |name: &str| Attribute::new(name, Encoding::Integer, FhirSource::None);
        assert!(Schema::new("", vec![int("a")]).is_err());
        assert!(Schema::new("Clinical", vec![int("a")]).is_err());
        assert!(Schema::new("a_very_long_schema_identifier_v12", vec![int("a")]).is_err());
        assert_ne!(schema_tag("clinical_v1"), schema_tag("clinical_v2"));
        assert!(Schema::new("t", vec![int("a"), int("a")]).is_err());
        assert!(Schema::new("t", vec![int("Age")]).is_err());
        assert!(Schema::new("t", vec![int("1st")]).is_err());
        assert!(Schema::new("t", vec![int("")]).is_err());
        assert!(Schema::new("t", vec![int("and")]).is_err());
        let empty = Attribute::multi("x", Encoding::Integer, 0, FhirSource::None);
        assert!(Schema::new("t", vec![empty]).is_err());
        let huge = Attribute::multi("x", Encoding::Integer, MAX_ATTRIBUTES, FhirSource::None);
        assert!(Schema::new("t", vec![huge.clone()]).is_ok());
        assert!(Schema::new("t", vec![huge, int("y")]).is_err());
    }

    #[test]
    fn encode_fills_named_values_and_sorts_multi_valued_slots() {
        let schema = Schema::clinical_v1();
        let record = schema
            .encode(&[("age", "61"), ("icd10", "I10"), ("icd10", "E11.9")])
            .expect("encodes");
        let (icd, _) = schema.get("icd10").expect("icd10");
        let values = record.values();
        assert_eq!(encoding::decode_signed(values[0]), 61);
        assert_eq!(
            values[icd as usize],
            encoding::encode_icd10("E11.9").expect("code")
        );
        assert_eq!(
            values[icd as usize + 1],
            encoding::encode_icd10("I10").expect("code")
        );
        assert_eq!(values[icd as usize + 2], MISSING);
        assert!(schema.encode(&[("age", "1"), ("age", "2")]).is_err());
        assert!(schema.encode(&[("shoe_size", "44")]).is_err());
        assert!(schema.encode(&[("age", "old")]).is_err());
    }

    #[test]
    fn literals_encode_per_attribute_kind() {
        let schema = Schema::clinical_v1();
        let literal = |name: &str, text: &str| schema.get(name).expect(name).1.literal_range(text);
        let (low, high) = literal("hba1c", "6.5").expect("quantity");
        assert_eq!((low, high), (low, low));
        assert_eq!(encoding::decode_signed(low), 6500);
        assert_eq!(literal("sex", "female"), Ok((2, 2)));
        assert_eq!(literal("sex", "FEMALE"), Ok((2, 2)));
        assert!(literal("sex", "f").is_err());
        assert!(literal("hba1c", "6.5555").is_err());
        assert!(literal("birth_date", "1970-13-01").is_err());
        assert!(literal("icd10", "XYZ").is_err());
        assert!(literal("age", "40.5").is_err());
    }
}
