//! FHIR R4 bundle (Patient, Condition, Observation) → attribute vector, through a [`Schema`].
//!
//! The hospital runs this when it releases a record (S1-release, S4-flow step 2/3), commits to the
//! result and signs the commitment. Mapping rules, per [`FhirSource`]:
//!
//! - exactly one `Patient`; every `Condition` and `Observation` must have a `subject` referring
//!   to it (its `fullUrl` or `Patient/<id>`), otherwise the bundle is refused: a record must
//!   never mix two people;
//! - `PatientAge`: whole years from `Patient.birthDate` to the attestation date `as_of`;
//!   `PatientBirthDate`, `PatientGender`: the fields themselves (partial dates are refused);
//! - `ConditionIcd10`: codings with system `http://hl7.org/fhir/sid/icd-10-cm` or
//!   `…/icd-10` of conditions whose `clinicalStatus` is active, recurrence or relapse and whose
//!   `verificationStatus` is not refuted or entered-in-error; encoded, de-duplicated, sorted,
//!   more than the attribute's slots is refused (never silently truncated);
//! - `ObservationLoinc`: among `final`, `amended` or `corrected` observations, the value of the
//!   latest one (by `effectiveDateTime`, `effectiveInstant`, `effectivePeriod.start` or `issued`;
//!   bundle order breaks ties) whose code, or one of whose components' codes, has a listed LOINC
//!   code; its `valueQuantity.code` must be the schema's UCUM unit (no silent unit conversion);
//! - anything absent stays [`MISSING`].

use crate::error::{Result, ZkError};
use crate::record::{MISSING, Record};
use crate::schema::encoding::encode_signed;
use crate::schema::{Attribute, FhirSource, Schema};
use chrono::{DateTime, NaiveDate, Utc};
use serde_json::Value;

const ICD10_SYSTEMS: [&str; 2] = [
    "http://hl7.org/fhir/sid/icd-10-cm",
    "http://hl7.org/fhir/sid/icd-10",
];
const LOINC: &str = "http://loinc.org";
const UCUM: &str = "http://unitsofmeasure.org";
const ACTIVE_CLINICAL: [&str; 3] = ["active", "recurrence", "relapse"];
const EXCLUDED_VERIFICATION: [&str; 2] = ["refuted", "entered-in-error"];
const USABLE_OBSERVATION: [&str; 3] = ["final", "amended", "corrected"];

/// Maps a FHIR R4 JSON bundle to the schema's attribute vector, as of the attestation date.
pub fn record_from_bundle(json: &str, schema: &Schema, as_of: NaiveDate) -> Result<Record> {
    let bundle: Value = serde_json::from_str(json).map_err(|e| fhir(format!("not JSON: {e}")))?;
    let view = BundleView::new(&bundle)?;
    let mut values = vec![MISSING; schema.num_attributes() as usize];
    for (offset, attribute) in schema.indexed() {
        let filled = view.values_for(attribute, as_of)?;
        let start = offset as usize;
        values[start..start + filled.len()].copy_from_slice(&filled);
    }
    Record::new(values)
}

fn fhir(message: impl Into<String>) -> ZkError {
    ZkError::Fhir(message.into())
}

fn str_at<'v>(value: &'v Value, key: &str) -> Option<&'v str> {
    value.get(key).and_then(Value::as_str)
}

fn array_at<'v>(value: &'v Value, key: &str) -> &'v [Value] {
    value
        .get(key)
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

/// `(system, code)` pairs of a CodeableConcept (the system may be absent).
fn codings(concept: Option<&Value>) -> impl Iterator<Item = (Option<&str>, &str)> {
    concept
        .map_or(&[][..], |c| array_at(c, "coding"))
        .iter()
        .filter_map(|coding| Some((str_at(coding, "system"), str_at(coding, "code")?)))
}

fn has_code(concept: Option<&Value>, allowed: &[&str]) -> bool {
    codings(concept).any(|(_, code)| allowed.contains(&code))
}

struct BundleView<'b> {
    patient: &'b Value,
    subjects: Vec<String>,
    resources: Vec<&'b Value>,
}

impl<'b> BundleView<'b> {
    fn new(bundle: &'b Value) -> Result<Self> {
        if str_at(bundle, "resourceType") != Some("Bundle") {
            return Err(fhir("not a Bundle"));
        }
        let mut patients = Vec::new();
        let mut resources = Vec::new();
        for entry in array_at(bundle, "entry") {
            let resource = entry
                .get("resource")
                .filter(|r| r.is_object())
                .ok_or_else(|| fhir("entry without a resource"))?;
            match str_at(resource, "resourceType") {
                Some("Patient") => patients.push((entry, resource)),
                Some("Condition" | "Observation") => resources.push(resource),
                _ => {}
            }
        }
        let [(entry, patient)] = patients[..] else {
            return Err(fhir(format!(
                "{} Patient resources, expected 1",
                patients.len()
            )));
        };
        let subjects = [
            str_at(entry, "fullUrl").map(str::to_owned),
            str_at(patient, "id").map(|id| format!("Patient/{id}")),
        ]
        .into_iter()
        .flatten()
        .collect();
        let view = Self {
            patient,
            subjects,
            resources,
        };
        view.check_subjects()?;
        Ok(view)
    }

    fn check_subjects(&self) -> Result<()> {
        for resource in &self.resources {
            let subject = resource.get("subject").and_then(|s| str_at(s, "reference"));
            if !subject.is_some_and(|s| self.subjects.iter().any(|known| known == s)) {
                return Err(fhir(format!(
                    "{} {} does not refer to the bundle's patient",
                    str_at(resource, "resourceType").unwrap_or("resource"),
                    str_at(resource, "id").unwrap_or("(no id)"),
                )));
            }
        }
        Ok(())
    }

    fn of_type(&self, kind: &'static str) -> impl Iterator<Item = &'b Value> + '_ {
        self.resources
            .iter()
            .copied()
            .filter(move |r| str_at(r, "resourceType") == Some(kind))
    }

    /// The encoded values of one attribute (`slots` of them).
    fn values_for(&self, attribute: &Attribute, as_of: NaiveDate) -> Result<Vec<u64>> {
        let single = |value: Option<u64>| vec![value.unwrap_or(MISSING)];
        Ok(match attribute.source() {
            FhirSource::PatientAge => single(self.age(attribute, as_of)?),
            FhirSource::PatientBirthDate => single(self.patient_field(attribute, "birthDate")?),
            FhirSource::PatientGender => single(self.patient_field(attribute, "gender")?),
            FhirSource::ConditionIcd10 => self.diagnoses(attribute)?,
            FhirSource::ObservationLoinc(codes) => {
                single(self.latest_observation(attribute, codes)?)
            }
            FhirSource::None => vec![MISSING; attribute.slots() as usize],
        })
    }

    fn patient_field(&self, attribute: &Attribute, key: &str) -> Result<Option<u64>> {
        str_at(self.patient, key)
            .map(|text| attribute.encode_text(text))
            .transpose()
    }

    fn age(&self, attribute: &Attribute, as_of: NaiveDate) -> Result<Option<u64>> {
        let Some(text) = str_at(self.patient, "birthDate") else {
            return Ok(None);
        };
        let birth = NaiveDate::parse_from_str(text, "%Y-%m-%d")
            .map_err(|_| fhir(format!("birthDate `{text}` is not a full date")))?;
        let years = as_of
            .years_since(birth)
            .ok_or_else(|| fhir("birthDate after the attestation date"))?;
        encode_signed(i64::from(years))
            .map(Some)
            .map_err(|reason| ZkError::Encoding {
                attribute: attribute.name().to_owned(),
                reason,
            })
    }

    fn diagnoses(&self, attribute: &Attribute) -> Result<Vec<u64>> {
        let mut codes = Vec::new();
        for condition in self.of_type("Condition") {
            let active = has_code(condition.get("clinicalStatus"), &ACTIVE_CLINICAL);
            let excluded = has_code(condition.get("verificationStatus"), &EXCLUDED_VERIFICATION);
            if !active || excluded {
                continue;
            }
            for (system, code) in codings(condition.get("code")) {
                if system.is_some_and(|s| ICD10_SYSTEMS.contains(&s)) {
                    codes.push(attribute.encode_text(code)?);
                }
            }
        }
        codes.sort_unstable();
        codes.dedup();
        let slots = attribute.slots() as usize;
        if codes.len() > slots {
            return Err(fhir(format!(
                "{} active diagnoses, schema attribute `{}` holds {slots}",
                codes.len(),
                attribute.name()
            )));
        }
        codes.resize(slots, MISSING);
        Ok(codes)
    }

    fn latest_observation(&self, attribute: &Attribute, loinc: &[String]) -> Result<Option<u64>> {
        let wanted = |concept: Option<&Value>| {
            codings(concept)
                .any(|(system, code)| system == Some(LOINC) && loinc.iter().any(|l| l == code))
        };
        let mut latest: Option<(Option<DateTime<Utc>>, &Value)> = None;
        for observation in self.of_type("Observation") {
            if !USABLE_OBSERVATION.contains(&str_at(observation, "status").unwrap_or("")) {
                continue;
            }
            let when = observation_time(observation)?;
            let components = array_at(observation, "component").iter();
            let quantities = std::iter::once(observation)
                .chain(components)
                .filter(|part| wanted(part.get("code")))
                .filter_map(|part| part.get("valueQuantity"));
            for quantity in quantities {
                // `>=` so that a later entry wins a tie: bundle order is the tie-breaker.
                if latest.as_ref().is_none_or(|(best, _)| when >= *best) {
                    latest = Some((when, quantity));
                }
            }
        }
        latest
            .map(|(_, quantity)| encode_quantity(attribute, quantity))
            .transpose()
    }
}

fn observation_time(observation: &Value) -> Result<Option<DateTime<Utc>>> {
    let text = str_at(observation, "effectiveDateTime")
        .or_else(|| str_at(observation, "effectiveInstant"))
        .or_else(|| {
            observation
                .get("effectivePeriod")
                .and_then(|p| str_at(p, "start"))
        })
        .or_else(|| str_at(observation, "issued"));
    text.map(parse_instant).transpose()
}

/// A FHIR dateTime with time and zone, or a plain date (read as midnight UTC).
fn parse_instant(text: &str) -> Result<DateTime<Utc>> {
    if let Ok(date) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        return Ok(date.and_time(chrono::NaiveTime::MIN).and_utc());
    }
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| fhir(format!("unreadable observation time `{text}`")))
}

fn encode_quantity(attribute: &Attribute, quantity: &Value) -> Result<u64> {
    let crate::schema::Encoding::Quantity { unit, .. } = attribute.encoding() else {
        return Err(fhir(format!(
            "`{}` is not a quantity attribute",
            attribute.name()
        )));
    };
    let system_ok = str_at(quantity, "system").is_none_or(|s| s == UCUM);
    if !system_ok || str_at(quantity, "code") != Some(unit.as_str()) {
        return Err(fhir(format!(
            "`{}` must be in UCUM `{unit}`, found {}",
            attribute.name(),
            quantity.get("code").unwrap_or(&Value::Null)
        )));
    }
    let value = quantity
        .get("value")
        .and_then(Value::as_number)
        .ok_or_else(|| fhir(format!("`{}` has no numeric value", attribute.name())))?;
    attribute.encode_text(&value.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::encoding::decode_signed;
    use serde_json::json;

    fn as_of() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 1, 1).expect("valid date")
    }

    fn patient() -> Value {
        json!({"fullUrl": "urn:uuid:p1", "resource": {"resourceType": "Patient", "gender": "female", "birthDate": "1960-06-15"}})
    }

    fn bundle(entries: Vec<Value>) -> String {
        json!({"resourceType": "Bundle", "type": "transaction", "entry": entries}).to_string()
    }

    fn observation(code: &str, value: Value, unit: &str, when: &str) -> Value {
        json!({"resource": {"resourceType": "Observation", "status": "final",
            "subject": {"reference": "urn:uuid:p1"},
            "code": {"coding": [{"system": LOINC, "code": code}]},
            "effectiveDateTime": when,
            "valueQuantity": {"value": value, "system": UCUM, "code": unit}}})
    }

    fn condition(code: &str, status: &str) -> Value {
        json!({"resource": {"resourceType": "Condition",
            "subject": {"reference": "urn:uuid:p1"},
            "clinicalStatus": {"coding": [{"code": status}]},
            "code": {"coding": [{"system": ICD10_SYSTEMS[0], "code": code}]}}})
    }

    fn value_of(record: &Record, name: &str) -> u64 {
        let schema = Schema::clinical_v1();
        record.values()[schema.get(name).expect(name).0 as usize]
    }

    fn map(entries: Vec<Value>) -> Result<Record> {
        record_from_bundle(&bundle(entries), &Schema::clinical_v1(), as_of())
    }

    #[test]
    fn demographics_map_to_age_sex_and_birth_date() {
        let record = map(vec![patient()]).expect("maps");
        assert_eq!(decode_signed(value_of(&record, "age")), 65);
        assert_eq!(value_of(&record, "sex"), 2);
        assert_eq!(value_of(&record, "hba1c"), MISSING);
    }

    #[test]
    fn latest_final_observation_wins_and_units_are_enforced() {
        let record = map(vec![
            patient(),
            observation("4548-4", json!(6.1), "%", "2025-01-01T10:00:00+02:00"),
            observation("4548-4", json!(7.25), "%", "2025-06-01"),
            observation("4548-4", json!(5.0), "%", "2024-01-01"),
        ])
        .expect("maps");
        assert_eq!(decode_signed(value_of(&record, "hba1c")), 7250);
        let wrong_unit = map(vec![
            patient(),
            observation("4548-4", json!(53), "mmol/mol", "2025-01-01"),
        ]);
        assert!(matches!(wrong_unit, Err(ZkError::Fhir(_))));
        let too_precise = map(vec![
            patient(),
            observation("4548-4", json!(6.12345), "%", "2025-01-01"),
        ]);
        assert!(matches!(too_precise, Err(ZkError::Encoding { .. })));
    }

    #[test]
    fn only_active_diagnoses_are_kept_sorted_and_bounded() {
        let record = map(vec![
            patient(),
            condition("I10", "active"),
            condition("E11.9", "active"),
            condition("J45", "resolved"),
            condition("E11.9", "recurrence"),
        ])
        .expect("maps");
        let schema = Schema::clinical_v1();
        let (first, icd) = schema.get("icd10").expect("icd10");
        let slots = &record.values()[first as usize..(first + icd.slots()) as usize];
        let expected = [icd.encode_text("E11.9"), icd.encode_text("I10")];
        assert_eq!(slots[..2], expected.map(|r| r.expect("valid")));
        assert!(slots[2..].iter().all(|v| *v == MISSING));
        let many: Vec<Value> = std::iter::once(patient())
            .chain((0..17).map(|i| condition(&format!("E{:02}", 10 + i), "active")))
            .collect();
        assert!(matches!(map(many), Err(ZkError::Fhir(_))));
    }

    #[test]
    fn bundles_mixing_patients_or_malformed_are_refused() {
        let mut stranger = condition("I10", "active");
        stranger["resource"]["subject"]["reference"] = json!("urn:uuid:someone-else");
        assert!(map(vec![patient(), stranger]).is_err());
        assert!(map(vec![]).is_err());
        assert!(map(vec![patient(), patient()]).is_err());
        assert!(map(vec![json!({"fullUrl": "x"})]).is_err());
        let mut partial = patient();
        partial["resource"]["birthDate"] = json!("1960");
        assert!(map(vec![partial]).is_err());
        let schema = Schema::clinical_v1();
        assert!(record_from_bundle("{", &schema, as_of()).is_err());
        assert!(record_from_bundle("[]", &schema, as_of()).is_err());
        let bad_time = observation("4548-4", json!(6), "%", "yesterday");
        assert!(map(vec![patient(), bad_time]).is_err());
    }
}
