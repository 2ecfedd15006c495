//! `clinical_v1`: the built-in schema (demographics, diagnoses, common labs and vitals).
//!
//! Index layout and FHIR sources are listed in the crate README; changing this table changes
//! every commitment and predicate made with it, so it is versioned: add `clinical_v2`, never edit.

use super::{Attribute, Encoding, FhirSource, Schema};

/// Diagnoses kept per record; a bundle with more active ICD-10 conditions is refused.
const DIAGNOSIS_SLOTS: u32 = 16;
/// Fixed-point precision of every lab and vital value: milli-units.
const DECIMALS: u8 = 3;

/// `(name, UCUM unit, LOINC codes)` of each observation attribute, in index order.
const OBSERVATIONS: &[(&str, &str, &[&str])] = &[
    ("hba1c", "%", &["4548-4"]),
    ("glucose", "mg/dL", &["2345-7"]),
    ("cholesterol", "mg/dL", &["2093-3"]),
    ("hdl", "mg/dL", &["2085-9"]),
    ("ldl", "mg/dL", &["13457-7", "18262-6"]),
    ("triglycerides", "mg/dL", &["2571-8"]),
    ("creatinine", "mg/dL", &["2160-0"]),
    (
        "egfr",
        "mL/min/{1.73_m2}",
        &["98979-8", "33914-3", "62238-1"],
    ),
    ("uacr", "mg/g", &["9318-7"]),
    ("hemoglobin", "g/dL", &["718-7"]),
    ("sodium", "mmol/L", &["2951-2"]),
    ("potassium", "mmol/L", &["2823-3"]),
    ("bmi", "kg/m2", &["39156-5"]),
    ("weight", "kg", &["29463-7"]),
    ("height", "cm", &["8302-2"]),
    ("systolic_bp", "mm[Hg]", &["8480-6"]),
    ("diastolic_bp", "mm[Hg]", &["8462-4"]),
    ("heart_rate", "/min", &["8867-4"]),
];

/// Administrative gender codes of FHIR R4 (`Patient.gender`).
const SEX_CODES: [&str; 4] = ["male", "female", "other", "unknown"];

pub(super) fn schema() -> Schema {
    let mut attributes = vec![
        Attribute::new("age", Encoding::Integer, FhirSource::PatientAge),
        Attribute::new(
            "sex",
            Encoding::Table(SEX_CODES.iter().map(|s| s.to_string()).collect()),
            FhirSource::PatientGender,
        ),
        Attribute::new("birth_date", Encoding::Date, FhirSource::PatientBirthDate),
        Attribute::multi(
            "icd10",
            Encoding::Icd10,
            DIAGNOSIS_SLOTS,
            FhirSource::ConditionIcd10,
        ),
    ];
    attributes.extend(OBSERVATIONS.iter().map(|(name, unit, loinc)| {
        Attribute::new(
            name,
            Encoding::Quantity {
                decimals: DECIMALS,
                unit: (*unit).to_owned(),
            },
            FhirSource::ObservationLoinc(loinc.iter().map(|c| c.to_string()).collect()),
        )
    }));
    match Schema::new("clinical_v1", attributes) {
        Ok(schema) => schema,
        // The table above is a constant; the unit test `clinical_schema_is_valid` pins it.
        Err(e) => unreachable!("clinical_v1 schema is invalid: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clinical_schema_is_valid_and_sized_as_documented() {
        let schema = schema();
        assert_eq!(
            schema.num_attributes(),
            3 + DIAGNOSIS_SLOTS + OBSERVATIONS.len() as u32
        );
        assert_eq!(schema.num_attributes(), 37);
        assert_eq!(schema.id(), "clinical_v1");
    }
}
