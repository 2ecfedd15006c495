//! The committed carebundle fixtures map to the attribute vectors a clinician would expect.

use zk::*;

fn record(name: &str) -> Record {
    let path = format!("{}/../../fixtures/fhir/{name}", env!("CARGO_MANIFEST_DIR"));
    let json = std::fs::read_to_string(&path).expect("fixture present");
    let as_of = NaiveDate::from_ymd_opt(2026, 1, 1).expect("date");
    record_from_bundle(&json, &Schema::clinical_v1(), as_of).expect("bundle maps")
}

fn holds(name: &str, text: &str) -> bool {
    let predicate = Predicate::parse(text, &Schema::clinical_v1()).expect("parses");
    predicate.evaluate(&record(name))
}

#[test]
fn type2_diabetes_fixture_meets_the_issue_example() {
    let name = "type2_diabetes-2-0000.json";
    assert!(holds(
        name,
        "age in 40..=70 and icd10 == E11 and hba1c >= 6.5"
    ));
    assert!(holds(
        name,
        "age == 62 and sex == female and birth_date == 1963-10-14"
    ));
    assert!(holds(name, "hba1c == 8.4 and icd10 == E11.9"));
    assert!(!holds(name, "icd10 == E10"));
    assert!(!holds(name, "hba1c > 8.4"));
}

#[test]
fn healthy_fixture_has_no_diagnoses_and_normal_hba1c() {
    let name = "healthy-12-0000.json";
    assert!(holds(
        name,
        "sex == male and age in 30..=32 and hba1c == 5.1"
    ));
    assert!(!holds(name, "icd10 >= A00"), "no diagnosis slot is filled");
    assert!(holds(name, "systolic_bp == 129 and diastolic_bp == 72"));
}

#[test]
fn hypertension_fixture_keeps_blood_pressure_components() {
    let name = "hypertension-13-0000.json";
    assert!(holds(
        name,
        "icd10 == I10 and systolic_bp < 140 and ldl == 117"
    ));
    assert!(!holds(name, "hba1c >= 0"), "no HbA1c panel in this bundle");
}

#[test]
fn ckd_fixture_maps_subcodes_and_cmp_labs() {
    let name = "ckd_stage3-14-0000.json";
    assert!(holds(
        name,
        "icd10 == N18.3 and icd10 == E66 and icd10 == I10"
    ));
    assert!(holds(name, "creatinine == 1.45 and egfr in 30..=44"));
    assert!(!holds(name, "bmi > 0"), "generated with --no-vitals");
    assert_eq!(
        record(name).num_attributes(),
        Schema::clinical_v1().num_attributes()
    );
}
