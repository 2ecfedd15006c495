use serde_json::{Value, json};

use super::*;

fn patient_ref() -> PatientRef {
    PatientRef::parse("Patient/p-123").unwrap()
}

/// A transaction bundle as EMR exports (e.g. Synthea) produce it: the Patient entry has a
/// `urn:uuid` fullUrl and the other resources refer to it by that URN.
fn transaction_bundle() -> Value {
    json!({
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {
                "fullUrl": "urn:uuid:6f1e2b9a-0000-4000-8000-000000000001",
                "resource": {
                    "resourceType": "Patient",
                    "id": "p-123",
                    "name": [{"family": "Doe", "given": ["Jane"]}],
                    "gender": "female",
                    "birthDate": "1980-02-29"
                },
                "request": {"method": "PUT", "url": "Patient/p-123"}
            },
            {
                "fullUrl": "urn:uuid:6f1e2b9a-0000-4000-8000-000000000002",
                "resource": {
                    "resourceType": "Encounter",
                    "id": "enc-1",
                    "status": "finished",
                    "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
                    "subject": {"reference": "urn:uuid:6f1e2b9a-0000-4000-8000-000000000001"},
                    "participant": [{"individual": {"reference": "Practitioner/dr-7"}}]
                },
                "request": {"method": "POST", "url": "Encounter"}
            },
            {
                "fullUrl": "urn:uuid:6f1e2b9a-0000-4000-8000-000000000003",
                "resource": {
                    "resourceType": "Observation",
                    "id": "obs-1",
                    "status": "final",
                    "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4"}]},
                    "subject": {"reference": "urn:uuid:6f1e2b9a-0000-4000-8000-000000000001"},
                    "encounter": {"reference": "urn:uuid:6f1e2b9a-0000-4000-8000-000000000002"},
                    "valueQuantity": {"value": 72, "unit": "/min"}
                },
                "request": {"method": "POST", "url": "Observation"}
            }
        ]
    })
}

/// A collection without the Patient resource: the resources name the patient by reference.
fn referencing_bundle() -> Value {
    json!({
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [
            {"resource": {
                "resourceType": "Condition",
                "id": "cond-1",
                "subject": {"reference": "Patient/p-123"}
            }},
            {"resource": {
                "resourceType": "MedicationRequest",
                "id": "med-1",
                "status": "active",
                "intent": "order",
                "subject": {"reference": "https://ehr.hospital-a.example/fhir/Patient/p-123/_history/4"},
                "requester": {"reference": "Practitioner/dr-7"}
            }},
            {"resource": {
                "resourceType": "Coverage",
                "id": "cov-1",
                "patient": {"reference": "Patient/p-123"}
            }}
        ]
    })
}

fn validate(document: &Value) -> Result<BundleSummary, FhirError> {
    let bytes = serde_json::to_vec(document).unwrap();
    validate_bundle(&bytes, &patient_ref(), DEFAULT_MAX_BUNDLE_BYTES)
}

fn refusal(document: &Value) -> FhirError {
    validate(document).expect_err("the bundle should be refused")
}

#[test]
fn accepts_a_transaction_bundle_with_its_patient() {
    let summary = validate(&transaction_bundle()).unwrap();
    assert_eq!(
        summary,
        BundleSummary {
            bundle_type: "transaction".into(),
            resources: 3,
            contains_patient: true,
        }
    );
}

#[test]
fn accepts_a_bundle_that_only_refers_to_the_patient() {
    let summary = validate(&referencing_bundle()).unwrap();
    assert_eq!(summary.resources, 3);
    assert!(!summary.contains_patient);
}

#[test]
fn refuses_oversized_bundles_before_parsing() {
    let bytes = serde_json::to_vec(&transaction_bundle()).unwrap();
    let refused = validate_bundle(&bytes, &patient_ref(), bytes.len() - 1);
    assert_eq!(
        refused,
        Err(FhirError::TooLarge {
            size: bytes.len(),
            max: bytes.len() - 1
        })
    );
    assert!(validate_bundle(&bytes, &patient_ref(), bytes.len()).is_ok());
}

#[test]
fn refuses_malformed_json_with_its_position() {
    let refused = validate_bundle(
        b"{\n  \"resourceType\": \"Bundle\",\n  oops",
        &patient_ref(),
        1024,
    );
    assert!(
        matches!(refused, Err(FhirError::NotJson { line: 3, .. })),
        "{refused:?}"
    );
    let deep = "[".repeat(10_000);
    assert!(matches!(
        validate_bundle(deep.as_bytes(), &patient_ref(), 1 << 20),
        Err(FhirError::NotJson { .. })
    ));
}

#[test]
fn refuses_documents_that_are_not_bundles() {
    assert_eq!(
        refusal(&json!(["Bundle"])),
        FhirError::WrongJsonType {
            pointer: "/".into(),
            expected: "an object"
        }
    );
    assert_eq!(
        refusal(&json!({"type": "collection"})),
        FhirError::Missing {
            pointer: "/resourceType".into()
        }
    );
    assert_eq!(
        refusal(&json!({"resourceType": "Patient", "id": "p-123"})),
        FhirError::NotABundle {
            found: "Patient".into()
        }
    );
    assert_eq!(
        refusal(&json!({"resourceType": 7})),
        FhirError::WrongJsonType {
            pointer: "/resourceType".into(),
            expected: "a string"
        }
    );
}

#[test]
fn refuses_unknown_bundle_types_and_missing_entries() {
    let mut bundle = transaction_bundle();
    bundle["type"] = json!("bag");
    assert_eq!(
        refusal(&bundle),
        FhirError::UnknownBundleType {
            pointer: "/type".into(),
            found: "bag".into()
        }
    );
    let mut bundle = transaction_bundle();
    bundle.as_object_mut().unwrap().remove("entry");
    assert_eq!(
        refusal(&bundle),
        FhirError::Missing {
            pointer: "/entry".into()
        }
    );
    bundle["entry"] = json!({});
    assert_eq!(
        refusal(&bundle),
        FhirError::WrongJsonType {
            pointer: "/entry".into(),
            expected: "an array"
        }
    );
    bundle["entry"] = json!([]);
    assert_eq!(refusal(&bundle), FhirError::NoEntries);
}

#[test]
fn refuses_entries_without_a_well_formed_resource() {
    let cases = [
        (
            "/entry/1",
            json!("Encounter"),
            FhirError::WrongJsonType {
                pointer: "/entry/1".into(),
                expected: "an object",
            },
        ),
        (
            "/entry/1/resource",
            Value::Null,
            FhirError::WrongJsonType {
                pointer: "/entry/1/resource".into(),
                expected: "an object",
            },
        ),
        (
            "/entry/1/resource/resourceType",
            json!("encounter"),
            FhirError::InvalidResourceType {
                pointer: "/entry/1/resource/resourceType".into(),
                found: "encounter".into(),
            },
        ),
        (
            "/entry/2/resource/id",
            json!("obs 1"),
            FhirError::InvalidId {
                pointer: "/entry/2/resource/id".into(),
                found: "obs 1".into(),
            },
        ),
        (
            "/entry/2/resource/id",
            json!("x".repeat(65)),
            FhirError::InvalidId {
                pointer: "/entry/2/resource/id".into(),
                found: "x".repeat(65),
            },
        ),
        (
            "/entry/2/fullUrl",
            json!(3),
            FhirError::WrongJsonType {
                pointer: "/entry/2/fullUrl".into(),
                expected: "a string",
            },
        ),
    ];
    for (pointer, replacement, expected) in cases {
        let mut bundle = transaction_bundle();
        *bundle.pointer_mut(pointer).unwrap() = replacement;
        assert_eq!(refusal(&bundle), expected, "replacing {pointer}");
    }
    // The Patient entry is an update (PUT), so its resource must carry its id.
    let mut bundle = transaction_bundle();
    bundle["entry"][0]["resource"]
        .as_object_mut()
        .unwrap()
        .remove("id");
    assert_eq!(
        refusal(&bundle),
        FhirError::Missing {
            pointer: "/entry/0/resource/id".into()
        }
    );
}

#[test]
fn refuses_a_second_patient_resource() {
    let mut bundle = transaction_bundle();
    let mut second = bundle["entry"][0].clone();
    second["resource"]["id"] = json!("p-999");
    bundle["entry"].as_array_mut().unwrap().push(second);
    assert_eq!(
        refusal(&bundle),
        FhirError::MultiplePatients {
            first: "/entry/0/resource".into(),
            second: "/entry/3/resource".into()
        }
    );
}

#[test]
fn refuses_a_contained_patient() {
    let mut bundle = referencing_bundle();
    bundle["entry"][1]["resource"]["contained"] = json!([
        {"resourceType": "Practitioner", "id": "dr-x"},
        {"resourceType": "Patient", "id": "someone-else"}
    ]);
    assert_eq!(
        refusal(&bundle),
        FhirError::ContainedPatient {
            pointer: "/entry/1/resource/contained/1".into()
        }
    );
    bundle["entry"][1]["resource"]["contained"] = json!({"resourceType": "Patient"});
    assert_eq!(
        refusal(&bundle),
        FhirError::WrongJsonType {
            pointer: "/entry/1/resource/contained".into(),
            expected: "an array"
        }
    );
}

#[test]
fn refuses_a_bundle_for_another_patient() {
    let mut bundle = transaction_bundle();
    bundle["entry"][0]["resource"]["id"] = json!("p-999");
    assert_eq!(
        refusal(&bundle),
        FhirError::PatientMismatch {
            pointer: "/entry/0/resource/id".into(),
            expected: patient_ref(),
            found: "Patient/p-999".into()
        }
    );
}

#[test]
fn refuses_references_to_another_patient_anywhere() {
    let mut bundle = referencing_bundle();
    bundle["entry"][1]["resource"]["subject"]["reference"] =
        json!("https://ehr.example/fhir/Patient/p-999");
    assert_eq!(
        refusal(&bundle),
        FhirError::PatientMismatch {
            pointer: "/entry/1/resource/subject/reference".into(),
            expected: patient_ref(),
            found: "https://ehr.example/fhir/Patient/p-999".into()
        }
    );
    // Not only subject: any element (here Observation.focus, a list) naming another patient.
    let mut bundle = transaction_bundle();
    bundle["entry"][2]["resource"]["focus"] = json!([{"reference": "Patient/p-999"}]);
    assert_eq!(
        refusal(&bundle),
        FhirError::PatientMismatch {
            pointer: "/entry/2/resource/focus/0/reference".into(),
            expected: patient_ref(),
            found: "Patient/p-999".into()
        }
    );
}

#[test]
fn refuses_a_subject_that_is_not_the_patient() {
    let mut bundle = transaction_bundle();
    bundle["entry"][2]["resource"]["subject"]["reference"] = json!("Group/ward-3");
    assert_eq!(
        refusal(&bundle),
        FhirError::SubjectNotPatient {
            pointer: "/entry/2/resource/subject/reference".into(),
            found: "Group/ward-3".into()
        }
    );
    let mut bundle = referencing_bundle();
    bundle["entry"][2]["resource"]["patient"]["reference"] = json!(42);
    assert_eq!(
        refusal(&bundle),
        FhirError::WrongJsonType {
            pointer: "/entry/2/resource/patient/reference".into(),
            expected: "a string"
        }
    );
}

#[test]
fn refuses_a_bundle_that_names_no_patient() {
    let bundle = json!({
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [{"resource": {"resourceType": "Practitioner", "id": "dr-7"}}]
    });
    assert_eq!(refusal(&bundle), FhirError::NoPatient);
}

#[test]
fn patient_references_parse_strictly() {
    assert_eq!(patient_ref(), PatientRef::LogicalId("p-123".into()));
    assert_eq!(patient_ref().to_string(), "Patient/p-123");
    assert_eq!(PatientRef::from_id("p-123").unwrap(), patient_ref());
    let urn = "urn:uuid:e9c68652-789f-5122-bd02-75f4ae18bfa9";
    assert_eq!(
        PatientRef::parse(urn).unwrap(),
        PatientRef::EntryUrn(urn.into())
    );
    for bad in [
        "p-123",
        "Patient/",
        "Patient/a/b",
        "Group/p-123",
        "Patient/ä",
        "urn:uuid:E9C68652-789F-5122-BD02-75F4AE18BFA9",
        "urn:uuid:e9c68652789f5122bd0275f4ae18bfa9",
        "urn:uuid:not-a-uuid",
    ] {
        assert_eq!(
            PatientRef::parse(bad),
            Err(FhirError::InvalidPatientReference { found: bad.into() }),
            "{bad} accepted"
        );
    }
    assert!(PatientRef::from_id("").is_err());
}

/// The committed synthetic bundles (`fixtures/fhir`, generated by carebundle): transaction bundles
/// whose resources are all creates identified by `urn:uuid` fullUrls, without ids.
fn fixtures() -> Vec<(String, Value)> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/fhir");
    let mut found: Vec<_> = std::fs::read_dir(&dir)
        .expect("fixtures/fhir")
        .map(|entry| entry.expect("fixture entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
        .map(|path| {
            let bytes = std::fs::read(&path).expect("read fixture");
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            (
                name,
                serde_json::from_slice(&bytes).expect("fixture is JSON"),
            )
        })
        .collect();
    found.sort_by(|a, b| a.0.cmp(&b.0));
    assert!(
        found.len() >= 4,
        "fixtures/fhir holds the generated bundles"
    );
    found
}

fn fixture_patient(bundle: &Value) -> PatientRef {
    PatientRef::parse(bundle["entry"][0]["fullUrl"].as_str().unwrap()).unwrap()
}

#[test]
fn accepts_the_generated_fixtures_for_their_patient_only() {
    for (name, bundle) in fixtures() {
        let bytes = serde_json::to_vec(&bundle).unwrap();
        let patient = fixture_patient(&bundle);
        let summary = validate_bundle(&bytes, &patient, DEFAULT_MAX_BUNDLE_BYTES)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(summary.contains_patient, "{name}");
        assert_eq!(summary.resources, bundle["entry"].as_array().unwrap().len());

        let stranger = PatientRef::parse("urn:uuid:00000000-0000-4000-8000-000000000000").unwrap();
        assert_eq!(
            validate_bundle(&bytes, &stranger, DEFAULT_MAX_BUNDLE_BYTES),
            Err(FhirError::PatientMismatch {
                pointer: "/entry/0/fullUrl".into(),
                expected: stranger.clone(),
                found: patient.to_string(),
            }),
            "{name}"
        );
        // By logical id the created Patient (no id yet) cannot be confirmed.
        assert!(matches!(
            validate_bundle(&bytes, &patient_ref(), DEFAULT_MAX_BUNDLE_BYTES),
            Err(FhirError::PatientMismatch { .. })
        ));
    }
}

#[test]
fn a_resource_without_id_needs_a_fullurl_and_a_create_request() {
    let (_, bundle) = fixtures().remove(0);
    let patient = fixture_patient(&bundle);
    let check = |bundle: &Value| {
        validate_bundle(
            &serde_json::to_vec(bundle).unwrap(),
            &patient,
            DEFAULT_MAX_BUNDLE_BYTES,
        )
    };
    let missing_id = Err(FhirError::Missing {
        pointer: "/entry/2/resource/id".into(),
    });

    let mut without_full_url = bundle.clone();
    without_full_url["entry"][2]
        .as_object_mut()
        .unwrap()
        .remove("fullUrl");
    assert_eq!(check(&without_full_url), missing_id);

    let mut an_update = bundle.clone();
    an_update["entry"][2]["request"]["method"] = json!("PUT");
    assert_eq!(check(&an_update), missing_id);

    // Outside a transaction or batch nothing is created: the first id-less resource is refused.
    let mut a_collection = bundle.clone();
    a_collection["type"] = json!("collection");
    assert_eq!(
        check(&a_collection),
        Err(FhirError::Missing {
            pointer: "/entry/0/resource/id".into()
        })
    );

    let mut no_request = bundle.clone();
    no_request["entry"][2]
        .as_object_mut()
        .unwrap()
        .remove("request");
    assert_eq!(check(&no_request), missing_id);

    let mut another_patients_data = bundle;
    another_patients_data["entry"][2]["resource"]["subject"]["reference"] =
        json!("Patient/someone-else");
    assert!(matches!(
        check(&another_patients_data),
        Err(FhirError::PatientMismatch { pointer, .. })
            if pointer == "/entry/2/resource/subject/reference"
    ));
}

/// A bundle whose one resource holds `items` under a single long, pointer-escaped key.
fn bundle_with_a_long_key(items: Vec<Value>) -> Value {
    let long_key = format!("x~/{}", "k".repeat(1 << 20));
    let mut bundle = referencing_bundle();
    bundle["entry"][0]["resource"][long_key] = Value::Array(items);
    bundle
}

#[test]
fn refuses_a_bundle_with_too_many_references_without_a_pointer_per_reference() {
    // About 7 MiB: a 1 MiB key over MAX_REFERENCES + 1 references. Formatting a pointer per
    // reference would need hundreds of gigabytes; the walk formats none.
    let reference = json!({"reference": "Patient/p-123"});
    let bundle = bundle_with_a_long_key(vec![reference; MAX_REFERENCES + 1]);
    assert_eq!(
        refusal(&bundle),
        FhirError::TooManyReferences {
            max: MAX_REFERENCES
        }
    );
}

#[test]
fn refuses_a_bundle_with_too_many_values() {
    let bundle = bundle_with_a_long_key(vec![json!(0); MAX_WALKED_VALUES]);
    assert_eq!(
        refusal(&bundle),
        FhirError::TooManyValues {
            max: MAX_WALKED_VALUES
        }
    );
}

#[test]
fn a_reference_error_under_a_long_key_names_its_escaped_pointer() {
    let mut items = vec![json!({"reference": "Patient/p-123"}); 1000];
    items.push(json!({"reference": "Patient/p-999"}));
    let bundle = bundle_with_a_long_key(items);
    let FhirError::PatientMismatch { pointer, found, .. } = refusal(&bundle) else {
        panic!("expected a patient mismatch");
    };
    assert_eq!(found, "Patient/p-999");
    let expected = format!(
        "/entry/0/resource/x~0~1{}/1000/reference",
        "k".repeat(1 << 20)
    );
    assert_eq!(pointer, expected);
}
