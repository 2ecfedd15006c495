//! How results are shown: sentences for people, JSON (`--json`) for scripts.

use medchain_client::{Finality, FinalizedHeader};
use medchain_types::{AccessDecision, DenyReason};
use serde::Serialize;
use serde_json::{Value, json};

/// Prints `value` as pretty JSON.
pub fn print_json(value: &impl Serialize) {
    match serde_json::to_string_pretty(value) {
        Ok(text) => println!("{text}"),
        Err(error) => eprintln!("error: cannot render JSON: {error}"),
    }
}

/// `value` as JSON, or `null` if it cannot be rendered.
pub fn to_json(value: &impl Serialize) -> Value {
    serde_json::to_value(value).unwrap_or(Value::Null)
}

/// "block N (certificate signed by k/n validators)".
pub fn block_phrase(at: &FinalizedHeader) -> String {
    match at.finality {
        Finality::Genesis => format!(
            "block {} (the genesis block, recomputed from your genesis document)",
            at.header.height
        ),
        Finality::Certificate {
            signers,
            validators,
        } => format!(
            "block {} (certificate signed by {signers}/{validators} validators)",
            at.header.height
        ),
    }
}

/// The verification facts as JSON.
pub fn finality_json(at: &FinalizedHeader) -> Value {
    let (kind, signers, validators) = match at.finality {
        Finality::Genesis => ("genesis", None, None),
        Finality::Certificate {
            signers,
            validators,
        } => ("certificate", Some(signers), Some(validators)),
    };
    json!({
        "height": at.header.height,
        "block": hex::encode(at.digest),
        "state_root": hex::encode(at.header.state_root),
        "finality": kind,
        "signers": signers,
        "validators": validators,
    })
}

/// "ALLOWED …" or "DENIED: …".
pub fn decision_line(decision: &AccessDecision) -> String {
    match decision {
        AccessDecision::Allowed { consent: Some(id) } => format!("ALLOWED under consent {id}"),
        AccessDecision::Allowed { consent: None } => {
            "ALLOWED: you are the record's patient".to_string()
        }
        AccessDecision::Denied { reason } => format!("DENIED: {}", deny_reason(*reason)),
    }
}

fn deny_reason(reason: DenyReason) -> &'static str {
    match reason {
        DenyReason::NoConsent => "no consent covers this requester, record and purpose",
        DenyReason::ConsentExpired => "the consent has expired",
        DenyReason::ConsentRevoked => "the patient revoked the consent",
        DenyReason::RequesterNotAudited => {
            "the requester is not a member of an audited organisation"
        }
    }
}
