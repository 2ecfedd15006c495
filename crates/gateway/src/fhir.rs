//! Structural validation of the FHIR R4 JSON `Bundle`s a doctor submits for a patient (S1-release).
//!
//! The gateway stores and releases a record only if it is one patient's bundle: a JSON object with
//! `resourceType` `Bundle`, an R4 bundle `type`, and entries whose resources each carry a
//! `resourceType` and an `id` — or, for a create (`request.method` `POST`) in a transaction or batch,
//! whose id the receiving server assigns, a `fullUrl` (typically `urn:uuid:…`) that the other
//! resources refer to it by. The patient is identified either by the bundle's single `Patient`
//! resource or, when the bundle has none, by its resources' `subject`/`patient` references; every
//! reference to a patient anywhere in the bundle must name the expected one, so a bundle cannot
//! smuggle a second patient's data into this patient's record. Errors name the offending place as a
//! JSON pointer (RFC 6901).
//!
//! This is structural validation, not full profile validation: element cardinalities and value sets
//! beyond the bundle type are the EMR system's concern.

use std::fmt;

use serde_json::{Map, Value};

/// Bundles larger than this are refused before parsing (a typical bundle is tens of kilobytes; a
/// record with embedded imaging belongs in a blob referenced from the bundle).
pub const DEFAULT_MAX_BUNDLE_BYTES: usize = 8 * 1024 * 1024;

/// The R4 `Bundle.type` value set (<http://hl7.org/fhir/R4/valueset-bundle-type.html>).
const BUNDLE_TYPES: [&str; 9] = [
    "document",
    "message",
    "transaction",
    "transaction-response",
    "batch",
    "batch-response",
    "history",
    "searchset",
    "collection",
];

/// Longest FHIR `id` (R4 `id` datatype: `[A-Za-z0-9\-\.]{1,64}`).
const MAX_ID_LEN: usize = 64;

/// Why a bundle was refused; `pointer` fields are JSON pointers into the submitted document.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FhirError {
    #[error("the bundle is {size} bytes, more than the {max}-byte limit")]
    TooLarge { size: usize, max: usize },
    #[error("the bundle is not JSON (line {line}, column {column}): {reason}")]
    NotJson {
        line: usize,
        column: usize,
        reason: String,
    },
    #[error("{pointer} is missing")]
    Missing { pointer: String },
    #[error("{pointer} must be {expected}")]
    WrongJsonType {
        pointer: String,
        expected: &'static str,
    },
    #[error("/resourceType is {found:?}, not \"Bundle\"")]
    NotABundle { found: String },
    #[error("{pointer} is {found:?}, not an R4 bundle type")]
    UnknownBundleType { pointer: String, found: String },
    #[error("/entry is empty: a record must contain at least one resource")]
    NoEntries,
    #[error("{pointer} is {found:?}, not a FHIR resource type name")]
    InvalidResourceType { pointer: String, found: String },
    #[error("{pointer} is {found:?}, not a FHIR id ([A-Za-z0-9-.], 1 to 64 characters)")]
    InvalidId { pointer: String, found: String },
    #[error("{found:?} is neither Patient/<id> nor urn:uuid:<lower-case uuid>")]
    InvalidPatientReference { found: String },
    #[error("the bundle has a second Patient resource at {second} (the first is at {first})")]
    MultiplePatients { first: String, second: String },
    #[error("{pointer} names {found}, but the record is for {expected}")]
    PatientMismatch {
        pointer: String,
        expected: PatientRef,
        found: String,
    },
    #[error("{pointer} ({found:?}) does not refer to the bundle's patient")]
    SubjectNotPatient { pointer: String, found: String },
    #[error("{pointer} is a contained Patient: the record's patient must be the bundle's own")]
    ContainedPatient { pointer: String },
    #[error(
        "the bundle neither contains a Patient resource nor refers to one by subject or patient"
    )]
    NoPatient,
    #[error("the bundle has more than {max} JSON values inside its resources")]
    TooManyValues { max: usize },
    #[error("the bundle has more than {max} references")]
    TooManyReferences { max: usize },
}

/// How the gateway names the patient a record belongs to: the Patient resource's logical id
/// (`Patient/<id>`), or, for a bundle that creates the Patient (no id yet), its entry's
/// `urn:uuid:` fullUrl.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum PatientRef {
    LogicalId(String),
    EntryUrn(String),
}

impl PatientRef {
    /// The patient with this FHIR logical id.
    pub fn from_id(id: &str) -> Result<Self, FhirError> {
        if is_fhir_id(id) {
            Ok(Self::LogicalId(id.to_owned()))
        } else {
            Err(FhirError::InvalidPatientReference {
                found: format!("Patient/{id}"),
            })
        }
    }

    /// Parses `Patient/<id>` or `urn:uuid:<uuid>` (lower-case, hyphenated, as FHIR requires).
    pub fn parse(reference: &str) -> Result<Self, FhirError> {
        let invalid = || FhirError::InvalidPatientReference {
            found: reference.to_owned(),
        };
        if let Some(id) = reference.strip_prefix("Patient/") {
            return Self::from_id(id).map_err(|_| invalid());
        }
        let uuid = reference.strip_prefix("urn:uuid:").and_then(|uuid| {
            uuid::Uuid::try_parse(uuid)
                .ok()
                .map(|parsed| (uuid, parsed))
        });
        match uuid {
            Some((written, parsed)) if parsed.hyphenated().to_string() == written => {
                Ok(Self::EntryUrn(reference.to_owned()))
            }
            _ => Err(invalid()),
        }
    }
}

impl fmt::Display for PatientRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PatientRef::LogicalId(id) => write!(f, "Patient/{id}"),
            PatientRef::EntryUrn(urn) => f.write_str(urn),
        }
    }
}

/// What a valid bundle was found to contain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BundleSummary {
    /// `Bundle.type`.
    pub bundle_type: String,
    /// Number of entries (each carries one resource).
    pub resources: usize,
    /// Whether the bundle carries the `Patient` resource itself (otherwise only references it).
    pub contains_patient: bool,
}

/// Validates `bytes` as one patient's FHIR R4 JSON bundle for `expected`, refusing anything over
/// `max_bytes` before parsing it.
pub fn validate_bundle(
    bytes: &[u8],
    expected: &PatientRef,
    max_bytes: usize,
) -> Result<BundleSummary, FhirError> {
    if bytes.len() > max_bytes {
        return Err(FhirError::TooLarge {
            size: bytes.len(),
            max: max_bytes,
        });
    }
    // serde_json bounds nesting depth (128), so hostile nesting is a parse error, not a stack
    // overflow in the walk below.
    let document: Value = serde_json::from_slice(bytes).map_err(|e| FhirError::NotJson {
        line: e.line(),
        column: e.column(),
        reason: e.to_string(),
    })?;
    let bundle = as_object(&document, "")?;
    let resource_type = required_str(bundle, "", "resourceType")?;
    if resource_type != "Bundle" {
        return Err(FhirError::NotABundle {
            found: resource_type.to_owned(),
        });
    }
    let bundle_type = required_str(bundle, "", "type")?;
    if !BUNDLE_TYPES.contains(&bundle_type) {
        return Err(FhirError::UnknownBundleType {
            pointer: "/type".into(),
            found: bundle_type.to_owned(),
        });
    }
    let entries = required(bundle, "", "entry")?
        .as_array()
        .ok_or_else(|| wrong_type("/entry", "an array"))?;
    if entries.is_empty() {
        return Err(FhirError::NoEntries);
    }
    // Only these bundle types carry requests, so only in them can an entry be a create.
    let may_create = matches!(bundle_type, "transaction" | "batch");
    let resources = entries
        .iter()
        .enumerate()
        .map(|(index, entry)| Entry::read(index, entry, may_create))
        .collect::<Result<Vec<_>, _>>()?;
    let patient = ThePatient {
        expected,
        resource: find_patient_resource(&resources, expected)?,
    };
    check_references(&resources, &patient)?;
    Ok(BundleSummary {
        bundle_type: bundle_type.to_owned(),
        resources: resources.len(),
        contains_patient: patient.resource.is_some(),
    })
}

/// One entry's resource, with where it sits in the document.
struct Entry<'a> {
    entry_pointer: String,
    /// Where the resource is: `<entry_pointer>/resource`.
    pointer: String,
    full_url: Option<&'a str>,
    resource_type: &'a str,
    /// Absent only for a create identified by its `fullUrl`.
    id: Option<&'a str>,
    resource: &'a Map<String, Value>,
}

impl<'a> Entry<'a> {
    fn read(index: usize, entry: &'a Value, may_create: bool) -> Result<Self, FhirError> {
        let entry_pointer = format!("/entry/{index}");
        let entry = as_object(entry, &entry_pointer)?;
        let full_url = optional_str(entry, &entry_pointer, "fullUrl")?;
        let pointer = format!("{entry_pointer}/resource");
        let resource = as_object(required(entry, &entry_pointer, "resource")?, &pointer)?;
        let resource_type = required_str(resource, &pointer, "resourceType")?;
        if !is_resource_type_name(resource_type) {
            return Err(FhirError::InvalidResourceType {
                pointer: format!("{pointer}/resourceType"),
                found: resource_type.to_owned(),
            });
        }
        let id = optional_str(resource, &pointer, "id")?;
        match id {
            Some(id) if !is_fhir_id(id) => {
                return Err(FhirError::InvalidId {
                    pointer: format!("{pointer}/id"),
                    found: id.to_owned(),
                });
            }
            None if !may_create
                || full_url.is_none_or(str::is_empty)
                || !is_create(entry, &entry_pointer)? =>
            {
                return Err(FhirError::Missing {
                    pointer: format!("{pointer}/id"),
                });
            }
            _ => {}
        }
        refuse_contained_patient(resource, &pointer)?;
        Ok(Self {
            entry_pointer,
            pointer,
            full_url,
            resource_type,
            id,
            resource,
        })
    }
}

/// Whether the entry asks the receiving server to create its resource (`request.method` `POST`).
fn is_create(entry: &Map<String, Value>, entry_pointer: &str) -> Result<bool, FhirError> {
    let Some(request) = entry.get("request") else {
        return Ok(false);
    };
    let request_pointer = format!("{entry_pointer}/request");
    let method = optional_str(
        as_object(request, &request_pointer)?,
        &request_pointer,
        "method",
    )?;
    Ok(method == Some("POST"))
}

/// A Patient inside a resource's `contained` list would be a second patient the bundle-level checks
/// never see.
fn refuse_contained_patient(resource: &Map<String, Value>, pointer: &str) -> Result<(), FhirError> {
    let Some(contained) = resource.get("contained") else {
        return Ok(());
    };
    let contained_pointer = format!("{pointer}/contained");
    let items = contained
        .as_array()
        .ok_or_else(|| wrong_type(&contained_pointer, "an array"))?;
    match items
        .iter()
        .position(|item| item.get("resourceType").and_then(Value::as_str) == Some("Patient"))
    {
        Some(index) => Err(FhirError::ContainedPatient {
            pointer: format!("{contained_pointer}/{index}"),
        }),
        None => Ok(()),
    }
}

/// The record's patient as this bundle names it: the expected reference, and the bundle's own
/// Patient entry once it has been checked to be that patient.
struct ThePatient<'a> {
    expected: &'a PatientRef,
    resource: Option<&'a Entry<'a>>,
}

impl ThePatient<'_> {
    /// `Some(true)` if `reference` designates the patient, `Some(false)` if it designates another
    /// patient, `None` if it designates no patient (another entry, a practitioner, …).
    fn designated_by(&self, reference: &str) -> Option<bool> {
        let own_full_url = self
            .resource
            .and_then(|entry| entry.full_url)
            .filter(|url| !url.is_empty());
        if own_full_url == Some(reference) || self.expected.to_string() == reference {
            return Some(true);
        }
        let id = patient_logical_id(reference)?;
        let own_id = self.resource.and_then(|entry| entry.id);
        Some(own_id == Some(id) || *self.expected == PatientRef::LogicalId(id.to_owned()))
    }
}

/// Finds the bundle's Patient resource, if any, and checks it is the only one and the expected
/// patient (by logical id, or by its entry's fullUrl for an expected `urn:uuid:`).
fn find_patient_resource<'a>(
    resources: &'a [Entry<'a>],
    expected: &PatientRef,
) -> Result<Option<&'a Entry<'a>>, FhirError> {
    let mut patients = resources.iter().filter(|r| r.resource_type == "Patient");
    let Some(patient) = patients.next() else {
        return Ok(None);
    };
    if let Some(second) = patients.next() {
        return Err(FhirError::MultiplePatients {
            first: patient.pointer.clone(),
            second: second.pointer.clone(),
        });
    }
    let (matches, pointer, found) = match expected {
        PatientRef::LogicalId(id) => (
            patient.id == Some(id.as_str()),
            format!("{}/id", patient.pointer),
            patient.id.map(|id| format!("Patient/{id}")),
        ),
        PatientRef::EntryUrn(urn) => (
            patient.full_url == Some(urn.as_str()),
            format!("{}/fullUrl", patient.entry_pointer),
            patient.full_url.map(str::to_owned),
        ),
    };
    if !matches {
        return Err(FhirError::PatientMismatch {
            pointer,
            expected: expected.clone(),
            found: found.unwrap_or_else(|| "nothing".into()),
        });
    }
    Ok(Some(patient))
}

/// At most this many JSON values are walked looking for references, and at most this many
/// references are accepted, per bundle. An 8 MiB bundle of real clinical data has well under a
/// million values and tens of thousands of references; the caps bound the walk of a hostile one.
pub const MAX_WALKED_VALUES: usize = 2_000_000;
pub const MAX_REFERENCES: usize = 200_000;

/// Checks every reference in every resource: a `subject` or `patient` reference must designate
/// the patient, and no reference anywhere may designate another patient. When the bundle has no
/// Patient resource, at least one `subject`/`patient` reference must name the patient.
fn check_references(resources: &[Entry<'_>], patient: &ThePatient<'_>) -> Result<(), FhirError> {
    let mut walk = ReferenceWalk {
        patient,
        patient_referenced: false,
        path: Vec::new(),
        walked_values: 0,
        references: 0,
    };
    for entry in resources {
        walk.path.clear();
        walk.walk_object(entry.resource, &entry.pointer, None)?;
    }
    if patient.resource.is_none() && !walk.patient_referenced {
        return Err(FhirError::NoPatient);
    }
    Ok(())
}

/// One step from a resource down to a value inside it.
enum PathSegment<'a> {
    Key(&'a str),
    Index(usize),
}

/// A depth-first walk over a resource checking each `Reference.reference` string as it is met.
/// The current position is a stack of borrowed segments; a JSON pointer is formatted only for
/// an error, so the walk allocates nothing per value however long the keys are.
struct ReferenceWalk<'p, 'a> {
    patient: &'p ThePatient<'p>,
    patient_referenced: bool,
    path: Vec<PathSegment<'a>>,
    walked_values: usize,
    references: usize,
}

impl<'a> ReferenceWalk<'_, 'a> {
    /// Walks `object`; `owner` is the element name holding it (to tell `subject`/`patient`
    /// references from others such as `performer`); `base` is the resource's pointer.
    fn walk_object(
        &mut self,
        object: &'a Map<String, Value>,
        base: &str,
        owner: Option<&str>,
    ) -> Result<(), FhirError> {
        for (key, value) in object {
            self.count_value()?;
            self.path.push(PathSegment::Key(key));
            match value {
                Value::String(reference) if key == "reference" => self.check(
                    reference,
                    matches!(owner, Some("subject" | "patient")),
                    base,
                )?,
                Value::Object(child) => self.walk_object(child, base, Some(key))?,
                Value::Array(items) => {
                    for (index, item) in items.iter().enumerate() {
                        self.count_value()?;
                        if let Value::Object(child) = item {
                            self.path.push(PathSegment::Index(index));
                            self.walk_object(child, base, Some(key))?;
                            self.path.pop();
                        }
                    }
                }
                _ if key == "reference" => {
                    return Err(wrong_type(&self.pointer(base), "a string"));
                }
                _ => {}
            }
            self.path.pop();
        }
        Ok(())
    }

    fn count_value(&mut self) -> Result<(), FhirError> {
        self.walked_values += 1;
        if self.walked_values > MAX_WALKED_VALUES {
            return Err(FhirError::TooManyValues {
                max: MAX_WALKED_VALUES,
            });
        }
        Ok(())
    }

    fn check(&mut self, reference: &str, is_subject: bool, base: &str) -> Result<(), FhirError> {
        self.references += 1;
        if self.references > MAX_REFERENCES {
            return Err(FhirError::TooManyReferences {
                max: MAX_REFERENCES,
            });
        }
        match self.patient.designated_by(reference) {
            Some(true) => self.patient_referenced |= is_subject,
            Some(false) => {
                return Err(FhirError::PatientMismatch {
                    pointer: self.pointer(base),
                    expected: self.patient.expected.clone(),
                    found: reference.to_owned(),
                });
            }
            None if is_subject => {
                return Err(FhirError::SubjectNotPatient {
                    pointer: self.pointer(base),
                    found: reference.to_owned(),
                });
            }
            None => {}
        }
        Ok(())
    }

    /// The JSON pointer of the current position.
    fn pointer(&self, base: &str) -> String {
        let mut pointer = base.to_owned();
        for segment in &self.path {
            pointer.push('/');
            match segment {
                PathSegment::Key(key) => pointer.push_str(&escape_pointer_token(key)),
                PathSegment::Index(index) => pointer.push_str(&index.to_string()),
            }
        }
        pointer
    }
}

/// The id in a reference to a Patient resource — `Patient/<id>`, relative or absolute, possibly
/// versioned (`…/_history/<version>`) — or `None` for any other reference.
fn patient_logical_id(reference: &str) -> Option<&str> {
    let without_history = reference
        .split_once("/_history/")
        .map_or(reference, |(resource, _)| resource);
    let mut segments = without_history.rsplit('/');
    match (segments.next(), segments.next()) {
        (Some(id), Some("Patient")) => Some(id),
        _ => None,
    }
}

fn is_fhir_id(id: &str) -> bool {
    (1..=MAX_ID_LEN).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
}

/// FHIR resource type names are upper-camel-case ASCII words (`Patient`, `MedicationRequest`).
fn is_resource_type_name(name: &str) -> bool {
    name.starts_with(|c: char| c.is_ascii_uppercase())
        && name.bytes().all(|b| b.is_ascii_alphabetic())
}

fn escape_pointer_token(token: &str) -> String {
    token.replace('~', "~0").replace('/', "~1")
}

fn wrong_type(pointer: &str, expected: &'static str) -> FhirError {
    FhirError::WrongJsonType {
        pointer: pointer.to_owned(),
        expected,
    }
}

fn as_object<'a>(value: &'a Value, pointer: &str) -> Result<&'a Map<String, Value>, FhirError> {
    value
        .as_object()
        .ok_or_else(|| wrong_type(if pointer.is_empty() { "/" } else { pointer }, "an object"))
}

fn required<'a>(
    object: &'a Map<String, Value>,
    pointer: &str,
    key: &str,
) -> Result<&'a Value, FhirError> {
    object.get(key).ok_or_else(|| FhirError::Missing {
        pointer: format!("{pointer}/{key}"),
    })
}

fn required_str<'a>(
    object: &'a Map<String, Value>,
    pointer: &str,
    key: &str,
) -> Result<&'a str, FhirError> {
    optional_str(object, pointer, key)?.ok_or_else(|| FhirError::Missing {
        pointer: format!("{pointer}/{key}"),
    })
}

fn optional_str<'a>(
    object: &'a Map<String, Value>,
    pointer: &str,
    key: &str,
) -> Result<Option<&'a str>, FhirError> {
    object
        .get(key)
        .map(|value| {
            value
                .as_str()
                .ok_or_else(|| wrong_type(&format!("{pointer}/{key}"), "a string"))
        })
        .transpose()
}

#[cfg(test)]
mod tests;
