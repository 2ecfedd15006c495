//! `zk`'s wire formats (`crates/zk/src/codec.rs`) and its text inputs: predicates in their text
//! form and FHIR bundles.

use crate::{canonical, fixtures, select};
use zk::{
    Commitment, NaiveDate, Predicate, PredicateDigest, Proof, ProvingKey, RecordOpening, Schema,
    Statement, VerifyingKey, record_from_bundle, verify,
};

/// The first byte picks the type, the rest is its encoding. What decodes re-encodes to the same
/// bytes. Proofs and statements are checked against the fixture's verifying key: a proof that
/// verifies does so for one statement only (its nullifier changed, it fails), and the fixture's
/// genuine proof verifies for no statement but its own. A decoded verifying key or predicate is
/// used as a verifier would use it, and fails cleanly; a decoded proving key is used to prove.
pub fn zk_wire(data: &[u8]) {
    let Some((choice, bytes)) = select(data, 8) else {
        return;
    };
    let zk = fixtures::zk();
    match choice {
        0 => {
            if let Some(proof) = canonical(bytes, Proof::from_bytes, |p| p.to_bytes().to_vec())
                && verify(&zk.verifying_key, &zk.statement, &proof) == Ok(true)
            {
                let other = other_nullifier(&zk.statement);
                assert_eq!(
                    verify(&zk.verifying_key, &other, &proof),
                    Ok(false),
                    "a proof verified for two nullifiers"
                );
            }
        }
        1 => {
            if let Some(key) = canonical(bytes, VerifyingKey::from_bytes, VerifyingKey::to_bytes) {
                let _ = verify(&key, &zk.statement, &zk.proof);
            }
        }
        2 => {
            let _ = canonical(bytes, ProvingKey::from_bytes, ProvingKey::to_bytes);
            let digest = ProvingKey::digest_of(bytes);
            let _ = ProvingKey::from_trusted_bytes(bytes, &digest);
        }
        3 => {
            if let Some(statement) =
                canonical(bytes, Statement::from_bytes, |s| s.to_bytes().to_vec())
                && verify(&zk.verifying_key, &statement, &zk.proof) == Ok(true)
            {
                assert_eq!(
                    statement.to_bytes(),
                    zk.statement.to_bytes(),
                    "the genuine proof verified for another statement"
                );
            }
        }
        4 => {
            if let Some(predicate) = canonical(bytes, Predicate::from_bytes, Predicate::to_bytes) {
                let _ = predicate.check_fits(&zk.shape);
                let _ = predicate.digest(&zk.shape);
            }
        }
        5 => {
            let _ = canonical(bytes, PredicateDigest::from_bytes, |d| {
                d.to_bytes().to_vec()
            });
        }
        6 => {
            let _ = canonical(bytes, Commitment::from_bytes, |c| c.to_bytes().to_vec());
        }
        _ => {
            if let Some(opening) =
                canonical(bytes, RecordOpening::from_bytes, RecordOpening::to_bytes)
            {
                let _ = opening.commit();
            }
        }
    }
}

/// The first byte picks the parser, the rest is UTF-8 text: a predicate parsed against the
/// clinical schema (which then survives its binary round trip and fits or is refused by the
/// clinical circuit), or a FHIR bundle mapped to a record of that schema's size.
pub fn zk_text(data: &[u8]) {
    let Some((choice, bytes)) = select(data, 2) else {
        return;
    };
    let Ok(text) = std::str::from_utf8(bytes) else {
        return;
    };
    let schema = clinical_schema();
    if choice == 0 {
        if let Ok(predicate) = Predicate::parse(text, schema) {
            let decoded = Predicate::from_bytes(&predicate.to_bytes())
                .expect("a parsed predicate survives its binary form");
            assert_eq!(decoded, predicate);
        }
    } else {
        let as_of = NaiveDate::from_ymd_opt(2026, 1, 1).expect("valid date");
        if let Ok(record) = record_from_bundle(text, schema, as_of) {
            assert_eq!(record.num_attributes(), schema.num_attributes());
        }
    }
}

fn clinical_schema() -> &'static Schema {
    static SCHEMA: std::sync::OnceLock<Schema> = std::sync::OnceLock::new();
    SCHEMA.get_or_init(Schema::clinical_v1)
}

/// The statement with another (canonical) nullifier.
fn other_nullifier(statement: &Statement) -> Statement {
    let mut other = *statement;
    other.nullifier.0[0] ^= 1;
    other.nullifier.0[31] = 0;
    other
}
