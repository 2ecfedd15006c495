//! FHIR R4 exports of what the chain holds about a patient, for EMR systems and patient
//! portals: the patient's consents as `Consent` resources (S1-sharing) and the access log as
//! `AuditEvent` resources in the IHE ATNA style (S1-rights), break-glass accesses marked with
//! the DICOM purpose of use 110127 (emergency override). Both are read from the chain with
//! proofs; the JSON is built here, the data are the chain's.

use super::{Gateway, ServiceError};
use medchain_client::{ListQuery, StateQuery};
use medchain_state::values::{AccessLogEntry, Consent};
use medchain_types::{AccessDecision, Address, ConsentId, Expiry, Purpose};
use serde_json::{Value, json};

/// Identifier systems of medchain's ids inside FHIR resources.
pub const ADDRESS_SYSTEM: &str = "urn:medchain:address";
pub const RECORD_SYSTEM: &str = "urn:medchain:record";
pub const CONSENT_SYSTEM: &str = "urn:medchain:consent";
pub const TX_SYSTEM: &str = "urn:medchain:tx";

const ACT_REASON: &str = "http://terminology.hl7.org/CodeSystem/v3-ActReason";
const DCM: &str = "http://dicom.nema.org/resources/ontology/DCM";

impl Gateway {
    /// `GET /v1/patients/{address}/fhir/consents`: a `collection` Bundle of `Consent`.
    pub(crate) fn fhir_consents(&self, patient: &Address) -> Result<Value, ServiceError> {
        let query = ListQuery::patient_consents(patient);
        let mut consents = Vec::new();
        loop {
            let page = self
                .chain
                .client
                .list(&query, consents.len() as u64, PAGE)?;
            let read = consents.len() as u64 + page.entries.len() as u64;
            let done = page.entries.is_empty() || read >= page.total;
            let height = page.at.header.height;
            let now_ms = page.at.header.timestamp_ms;
            consents.extend(
                page.entries
                    .into_iter()
                    .map(|listed| consent_resource(&listed.id, &listed.value, height, now_ms)),
            );
            if done {
                break;
            }
        }
        Ok(bundle(consents))
    }

    /// `GET /v1/patients/{address}/fhir/audit-events`: a `collection` Bundle of `AuditEvent`,
    /// one per logged access decision, oldest first.
    pub(crate) fn fhir_audit_events(&self, patient: &Address) -> Result<Value, ServiceError> {
        // The log's length is a hint where to stop: every entry read is proven.
        let total = self.chain.client.node.access_log(patient, 0, 1)?.total;
        let mut events = Vec::new();
        for seq in 0..total {
            let read = self
                .chain
                .client
                .read(&StateQuery::access_log_entry(patient, seq))?;
            if let Some(entry) = read.value {
                events.push(audit_event(patient, seq, &entry));
            }
        }
        Ok(bundle(events))
    }
}

/// Page size of the consent list reads.
const PAGE: usize = 100;

fn bundle(resources: Vec<Value>) -> Value {
    json!({
        "resourceType": "Bundle",
        "type": "collection",
        "total": resources.len(),
        "entry": resources.into_iter().map(|resource| json!({ "resource": resource })).collect::<Vec<_>>(),
    })
}

/// A consent as FHIR R4 `Consent`: one permit provision for the grantee, the purpose and the
/// records; revoked or expired consents are `inactive`.
pub(crate) fn consent_resource(
    id: &ConsentId,
    consent: &Consent,
    height: u64,
    now_ms: u64,
) -> Value {
    let expired = match consent.expiry {
        Expiry::AtHeight(end) => height >= end,
        Expiry::AtTime(end) => now_ms >= end,
    };
    let status = if consent.revoked_at.is_some() || expired {
        "inactive"
    } else {
        "active"
    };
    let mut provision = json!({
        "type": "permit",
        "actor": [{
            "role": { "coding": [{
                "system": "http://terminology.hl7.org/CodeSystem/v3-ParticipationType",
                "code": "IRCP",
                "display": "information recipient",
            }]},
            "reference": { "identifier": { "system": ADDRESS_SYSTEM, "value": consent.grantee.to_string() } },
        }],
        "purpose": [purpose_coding(consent.purpose)],
        "data": consent.records.iter().map(|record| json!({
            "meaning": "instance",
            "reference": { "identifier": { "system": RECORD_SYSTEM, "value": record.to_string() } },
        })).collect::<Vec<_>>(),
    });
    match consent.expiry {
        Expiry::AtTime(end) => provision["period"] = json!({ "end": instant(end) }),
        Expiry::AtHeight(end) => {
            provision["extension"] = json!([{
                "url": "urn:medchain:fhir:expiry-height",
                "valueUnsignedInt": end,
            }])
        }
    }
    json!({
        "resourceType": "Consent",
        "id": id.to_string(),
        "identifier": [{ "system": CONSENT_SYSTEM, "value": id.to_string() }],
        "status": status,
        "scope": { "coding": [{
            "system": "http://terminology.hl7.org/CodeSystem/consentscope",
            "code": "patient-privacy",
            "display": "Privacy Consent",
        }]},
        "category": [{ "coding": [{
            "system": "http://loinc.org",
            "code": "59284-0",
            "display": "Patient Consent",
        }]}],
        "patient": { "identifier": { "system": ADDRESS_SYSTEM, "value": consent.patient.to_string() } },
        "policyRule": { "coding": [{
            "system": "http://terminology.hl7.org/CodeSystem/v3-ActCode",
            "code": "OPTIN",
            "display": "opt-in",
        }]},
        "provision": provision,
    })
}

/// A logged access as FHIR R4 `AuditEvent` (IHE ATNA: a patient-record read, its requester
/// and the serving gateway as agents, the chain as the source, record and patient as entities).
pub(crate) fn audit_event(patient: &Address, seq: u64, entry: &AccessLogEntry) -> Value {
    let (outcome, description, purpose) = match &entry.decision {
        AccessDecision::Allowed { consent } => (
            "0",
            match consent {
                Some(consent) => format!("allowed under consent {consent}"),
                None => "the patient's own access".to_owned(),
            },
            vec![purpose_coding(entry.purpose)],
        ),
        AccessDecision::Denied { reason } => (
            "4",
            format!("denied: {}", super::error::deny_code(*reason)),
            vec![purpose_coding(entry.purpose)],
        ),
        AccessDecision::BreakGlass { emergency } => (
            "0",
            format!("break-glass under emergency request {emergency}"),
            vec![json!({ "coding": [
                { "system": DCM, "code": "110127", "display": "Emergency Override Started" },
                { "system": ACT_REASON, "code": "ETREAT", "display": "Emergency Treatment" },
            ]})],
        ),
    };
    let mut agents = vec![json!({
        "type": { "coding": [{
            "system": "http://terminology.hl7.org/CodeSystem/v3-ParticipationType",
            "code": "IRCP",
            "display": "information recipient",
        }]},
        "who": { "identifier": { "system": ADDRESS_SYSTEM, "value": entry.requester.to_string() } },
        "requestor": true,
    })];
    if let Some(gateway) = entry.served_by {
        agents.push(json!({
            "type": { "coding": [{
                "system": "http://terminology.hl7.org/CodeSystem/v3-ParticipationType",
                "code": "CST",
                "display": "custodian",
            }]},
            "who": { "identifier": { "system": ADDRESS_SYSTEM, "value": gateway.to_string() } },
            "requestor": false,
        }));
    }
    json!({
        "resourceType": "AuditEvent",
        // The log position: unique per patient, and the transaction is in `source`.
        "id": format!("access-{seq}"),
        "type": { "system": DCM, "code": "110110", "display": "Patient Record" },
        "subtype": [{ "system": "http://hl7.org/fhir/restful-interaction", "code": "read", "display": "read" }],
        "action": "R",
        "recorded": instant(entry.timestamp_ms),
        "outcome": outcome,
        "outcomeDesc": description,
        "purposeOfEvent": purpose,
        "agent": agents,
        "source": {
            "observer": { "identifier": { "system": TX_SYSTEM, "value": entry.tx.to_string() },
                          "display": format!("medchain block {}", entry.height) },
            "type": [{
                "system": "http://terminology.hl7.org/CodeSystem/security-source-type",
                "code": "4",
                "display": "Application Server",
            }],
        },
        "entity": [
            {
                "what": { "identifier": { "system": RECORD_SYSTEM, "value": entry.record.to_string() } },
                "type": { "system": "http://terminology.hl7.org/CodeSystem/audit-entity-type", "code": "2", "display": "System Object" },
                "role": { "system": "http://terminology.hl7.org/CodeSystem/object-role", "code": "4", "display": "Domain Resource" },
            },
            {
                "what": { "identifier": { "system": ADDRESS_SYSTEM, "value": patient.to_string() } },
                "type": { "system": "http://terminology.hl7.org/CodeSystem/audit-entity-type", "code": "1", "display": "Person" },
                "role": { "system": "http://terminology.hl7.org/CodeSystem/object-role", "code": "1", "display": "Patient" },
            },
        ],
    })
}

/// The purpose of use as an HL7 v3 ActReason code.
fn purpose_coding(purpose: Purpose) -> Value {
    let (code, display) = match purpose {
        Purpose::Treatment => ("TREAT", "treatment"),
        Purpose::Research => ("HRESCH", "healthcare research"),
        Purpose::Billing => ("HPAYMT", "healthcare payment"),
        Purpose::PublicHealth => ("PUBHLTH", "public health"),
        Purpose::Audit => ("HOPERAT", "healthcare operations"),
    };
    json!({ "coding": [{ "system": ACT_REASON, "code": code, "display": display }] })
}

/// Unix milliseconds as a FHIR instant (UTC).
fn instant(ms: u64) -> String {
    i64::try_from(ms)
        .ok()
        .and_then(chrono::DateTime::from_timestamp_millis)
        .map_or_else(
            || "9999-12-31T23:59:59.999Z".to_owned(),
            |time| time.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        )
}

#[cfg(test)]
mod tests {
    //! The exports checked against the FHIR R4 JSON structure of `Consent` and `AuditEvent`:
    //! every required element present with a value of its type, codes from their value sets.

    use super::*;
    use medchain_state::testkit::{address, record_id};
    use medchain_types::{ContentHash, DenyReason, EmergencyId, Hash32, TxId};

    fn coding_codes(concept: &Value) -> Vec<(&str, &str)> {
        concept["coding"]
            .as_array()
            .expect("a CodeableConcept has codings")
            .iter()
            .map(|c| (c["system"].as_str().unwrap(), c["code"].as_str().unwrap()))
            .collect()
    }

    fn is_instant(text: &str) -> bool {
        // YYYY-MM-DDThh:mm:ss(.sss)Z: an R4 instant needs seconds and a zone.
        text.len() >= 20
            && text.as_bytes()[4] == b'-'
            && text.as_bytes()[10] == b'T'
            && text.ends_with('Z')
            && chrono::DateTime::parse_from_rfc3339(text).is_ok()
    }

    fn is_fhir_id(text: &str) -> bool {
        (1..=64).contains(&text.len())
            && text
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
    }

    /// R4 Consent: status, scope, category (1..*), policy or policyRule (ppc-1), patient, and
    /// a provision of type permit|deny whose actors have a role and a reference.
    fn check_consent(resource: &Value) {
        assert_eq!(resource["resourceType"], "Consent");
        assert!(is_fhir_id(resource["id"].as_str().unwrap()));
        let status = resource["status"].as_str().unwrap();
        assert!(
            [
                "draft",
                "proposed",
                "active",
                "rejected",
                "inactive",
                "entered-in-error"
            ]
            .contains(&status)
        );
        assert_eq!(
            coding_codes(&resource["scope"]),
            [(
                "http://terminology.hl7.org/CodeSystem/consentscope",
                "patient-privacy"
            )]
        );
        let category = resource["category"].as_array().unwrap();
        assert!(!category.is_empty());
        assert_eq!(
            coding_codes(&category[0]),
            [("http://loinc.org", "59284-0")]
        );
        assert!(resource.get("policyRule").is_some() || resource.get("policy").is_some());
        assert!(resource["patient"]["identifier"]["value"].is_string());
        let provision = &resource["provision"];
        assert!(["permit", "deny"].contains(&provision["type"].as_str().unwrap()));
        for actor in provision["actor"].as_array().unwrap() {
            assert!(!coding_codes(&actor["role"]).is_empty());
            assert!(actor["reference"]["identifier"]["value"].is_string());
        }
        for data in provision["data"].as_array().unwrap() {
            assert!(
                ["instance", "related", "dependents", "authoredby"]
                    .contains(&data["meaning"].as_str().unwrap())
            );
            assert!(data["reference"].is_object());
        }
        if let Some(end) = provision["period"]["end"].as_str() {
            assert!(is_instant(end), "{end}");
        }
    }

    /// R4 AuditEvent: type (Coding), recorded (instant), agent (1..*, each with requestor),
    /// source with an observer, action and outcome from their value sets.
    fn check_audit_event(resource: &Value) {
        assert_eq!(resource["resourceType"], "AuditEvent");
        assert!(is_fhir_id(resource["id"].as_str().unwrap()));
        assert_eq!(resource["type"]["system"], DCM);
        assert_eq!(resource["type"]["code"], "110110");
        assert!(["C", "R", "U", "D", "E"].contains(&resource["action"].as_str().unwrap()));
        assert!(is_instant(resource["recorded"].as_str().unwrap()));
        assert!(["0", "4", "8", "12"].contains(&resource["outcome"].as_str().unwrap()));
        let agents = resource["agent"].as_array().unwrap();
        assert!(!agents.is_empty());
        assert!(agents.iter().all(|agent| agent["requestor"].is_boolean()));
        assert_eq!(agents.iter().filter(|a| a["requestor"] == true).count(), 1);
        assert!(resource["source"]["observer"].is_object());
        assert!(!resource["source"]["type"].as_array().unwrap().is_empty());
        for entity in resource["entity"].as_array().unwrap() {
            assert!(entity["what"].is_object());
        }
    }

    fn consent(revoked: Option<u64>, expiry: Expiry) -> Consent {
        Consent {
            patient: address(1),
            grantee: address(2),
            records: vec![record_id(3), record_id(4)],
            purpose: Purpose::Research,
            expiry,
            granted_at: 5,
            revoked_at: revoked,
            reward: 0,
        }
    }

    #[test]
    fn consents_export_as_fhir_consent_with_permit_provisions() {
        let id = ConsentId(Hash32::from([9; 32]));
        let live = consent_resource(
            &id,
            &consent(None, Expiry::AtTime(2_000_000_000_000)),
            10,
            1_000,
        );
        check_consent(&live);
        assert_eq!(live["status"], "active");
        let provision = &live["provision"];
        assert_eq!(provision["type"], "permit");
        assert_eq!(
            provision["actor"][0]["reference"]["identifier"]["value"],
            address(2).to_string()
        );
        assert_eq!(
            coding_codes(&provision["purpose"][0]),
            [(ACT_REASON, "HRESCH")]
        );
        assert_eq!(provision["data"].as_array().unwrap().len(), 2);
        assert_eq!(provision["period"]["end"], "2033-05-18T03:33:20.000Z");

        let revoked = consent_resource(&id, &consent(Some(8), Expiry::AtHeight(100)), 10, 1_000);
        check_consent(&revoked);
        assert_eq!(revoked["status"], "inactive");
        assert_eq!(
            revoked["provision"]["extension"][0]["valueUnsignedInt"],
            100
        );
        let expired = consent_resource(&id, &consent(None, Expiry::AtHeight(10)), 10, 1_000);
        assert_eq!(expired["status"], "inactive");
    }

    fn entry(decision: AccessDecision, served_by: Option<Address>) -> AccessLogEntry {
        AccessLogEntry {
            requester: address(2),
            record: record_id(3),
            purpose: Purpose::Treatment,
            decision,
            height: 12,
            timestamp_ms: 1_700_000_012_000,
            tx: TxId(ContentHash::of(b"tx").0),
            served_by,
        }
    }

    #[test]
    fn access_log_exports_as_atna_audit_events_with_break_glass_marked() {
        let allowed = audit_event(
            &address(1),
            0,
            &entry(AccessDecision::Allowed { consent: None }, None),
        );
        check_audit_event(&allowed);
        assert_eq!(allowed["outcome"], "0");
        assert_eq!(allowed["recorded"], "2023-11-14T22:13:32.000Z");
        assert_eq!(
            coding_codes(&allowed["purposeOfEvent"][0]),
            [(ACT_REASON, "TREAT")]
        );
        assert_eq!(allowed["agent"].as_array().unwrap().len(), 1);

        let denied = audit_event(
            &address(1),
            1,
            &entry(
                AccessDecision::Denied {
                    reason: DenyReason::ConsentRevoked,
                },
                Some(address(7)),
            ),
        );
        check_audit_event(&denied);
        assert_eq!(denied["outcome"], "4");
        assert_eq!(denied["outcomeDesc"], "denied: consent_revoked");
        assert_eq!(
            denied["agent"][1]["who"]["identifier"]["value"],
            address(7).to_string()
        );
        assert_eq!(denied["agent"][1]["requestor"], false);

        let emergency = EmergencyId(Hash32::from([4; 32]));
        let broken = audit_event(
            &address(1),
            2,
            &entry(AccessDecision::BreakGlass { emergency }, Some(address(7))),
        );
        check_audit_event(&broken);
        let purpose = coding_codes(&broken["purposeOfEvent"][0]);
        assert!(purpose.contains(&(DCM, "110127")), "{purpose:?}");
        assert_eq!(
            broken["entity"][1]["what"]["identifier"]["value"],
            address(1).to_string()
        );
    }

    #[test]
    fn exports_are_collection_bundles() {
        let exported = bundle(vec![json!({"resourceType": "Consent"})]);
        assert_eq!(exported["resourceType"], "Bundle");
        assert_eq!(exported["type"], "collection");
        assert_eq!(exported["total"], 1);
        assert_eq!(exported["entry"][0]["resource"]["resourceType"], "Consent");
    }
}
