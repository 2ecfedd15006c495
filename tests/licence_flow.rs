//! Issue 8's whole identity flow through the `medchain` binary on 4 validator processes
//! (S3-setup, S3-register, S3-revoke): the validators' DKG sets up the threshold PKG, hospital
//! and doctor enrol with `medchain identity enrol` (bound on chain, keys extracted from 3 of the
//! 4 validators), the hospital licenses its doctor, the doctor releases a record, is revoked and
//! can no longer release, and `medchain revocation check` proves the revocation — and, after it
//! is lifted, the absence — against a finalized block.

mod common;

use common::Network;
use medchain_types::Role;
use serde_json::Value;
use std::fs;

const DOCTOR: &str = "dr-kim@seoul-general";

/// `medchain revocation check DOCTOR ARGS --json`: its exit status and answer.
fn check(network: &Network, args: &[&str]) -> (i32, Value) {
    let mut full = vec!["revocation", "check", DOCTOR, "--json"];
    full.extend_from_slice(args);
    let output = network.medchain(&full);
    let answer = serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "`medchain {}` printed no JSON ({e}):\n{}",
            full.join(" "),
            String::from_utf8_lossy(&output.stderr)
        )
    });
    (output.status.code().unwrap_or(-1), answer)
}

/// `medchain record release` of `record` by `key` about `patient`.
fn release<'a>(key: &'a str, patient: &'a str, record: &'a str) -> [&'a str; 8] {
    [
        "record",
        "release",
        "--key",
        key,
        "--patient",
        patient,
        "--file",
        record,
    ]
}

#[test]
fn a_licensed_doctor_releases_is_revoked_and_the_revocation_is_proven() {
    let network = Network::start(4);
    let regulator = network.regulator_key.display().to_string();
    let (hospital, _) = network.keygen("hospital.key");
    let (doctor, doctor_address) = network.keygen("doctor.key");
    let (_, patient_address) = network.keygen("patient.key");
    let hospital_address = network
        .ok(&["address", "--key", &hospital])
        .trim()
        .to_string();

    // An audited hospital with the doctor as a member.
    let org = "Seoul General";
    network.ok(&["org", "register", "--key", &hospital, "--name", org]);
    network.ok(&["org", "approve", "--key", &regulator, "--name", org]);
    network.join_org(&doctor, org, &hospital);

    // Identities bound to addresses with keys from the threshold PKG, shown verified by name
    // and by address.
    network.enrol(
        &network.path("hospital.key"),
        "seoul-general",
        Role::Hospital,
    );
    network.enrol(&network.path("doctor.key"), DOCTOR, Role::Doctor);
    let by_name = network.json(&["identity", "show", DOCTOR]);
    assert_eq!(by_name["value"]["role"], "doctor");
    assert_eq!(by_name["value"]["address"], doctor_address.as_str());
    assert_eq!(by_name["value"]["org"], org);
    let by_address = network.json(&["identity", "show", "--address", &doctor_address]);
    assert_eq!(by_address["value"]["identity"], DOCTOR);

    // Not licensed yet: the release is refused, with why.
    let record = network.path("record.json");
    fs::write(&record, br#"{"resourceType":"Bundle"}"#).unwrap();
    let record = record.display().to_string();
    let refused = network.fails(&release(&doctor, &patient_address, &record));
    assert!(refused.contains("holds no licence"), "{refused}");

    // S3-register: the hospital licenses its doctor; the doctor releases.
    let licensed = network.json(&[
        "licence",
        "issue",
        "--key",
        &hospital,
        "--doctor",
        DOCTOR,
        "--expires",
        "365d",
    ]);
    assert_eq!(licensed["kind"], "licence.issue");
    assert_eq!(
        network.json(&["licence", "show", DOCTOR])["value"]["hospital"],
        "seoul-general"
    );
    let renewed_in_the_past = network.medchain(&[
        "licence",
        "renew",
        "--key",
        &hospital,
        "--doctor",
        DOCTOR,
        "--expires",
        "2020-01-01",
    ]);
    assert_eq!(
        renewed_in_the_past.status.code(),
        Some(2),
        "a past expiry is a usage error"
    );
    network.ok(&release(&doctor, &patient_address, &record));

    // Not revoked: an exclusion proof at a finalized height.
    let (status, not_revoked) = check(&network, &[]);
    assert_eq!(status, 0, "{not_revoked}");
    assert_eq!(not_revoked["revoked"], false);
    let before = not_revoked["height"].as_u64().unwrap();
    let text = network.ok(&["revocation", "check", DOCTOR]);
    assert!(text.contains("not revoked at height"), "{text}");
    assert!(text.contains("proof verified: exclusion proof"), "{text}");

    // S3-revoke: only the licensing hospital (or the regulator) revokes; then no release.
    let not_theirs = network.fails(&["revocation", "add", "--key", &doctor, "--doctor", DOCTOR]);
    assert!(
        not_theirs.contains("may not change the revocation"),
        "{not_theirs}"
    );
    network.ok(&["revocation", "add", "--key", &hospital, "--doctor", DOCTOR]);
    let patient_2 = network.keygen("patient-2.key").1;
    let refused = network.fails(&release(&doctor, &patient_2, &record));
    assert!(refused.contains("on the revocation list"), "{refused}");

    // The revocation is proven (inclusion), saved and verified offline; the past stays provable.
    let saved = network.path("revoked.json").display().to_string();
    let (status, revoked) = check(&network, &["--save", &saved]);
    assert_eq!(status, 6, "{revoked}");
    assert_eq!(revoked["revoked"], true);
    assert_eq!(revoked["revocation"]["by"], hospital_address.as_str());
    assert!(revoked["height"].as_u64().unwrap() > before);
    let offline = network.ok(&["verify", &saved]);
    assert!(offline.contains("verified offline"), "{offline}");
    let (status, then) = check(&network, &["--at-height", &before.to_string()]);
    assert_eq!(
        (status, &then["revoked"]),
        (0, &Value::Bool(false)),
        "{then}"
    );
    assert_eq!(then["height"], before);

    // Lifted: not revoked again, proven, and the doctor releases again.
    network.ok(&[
        "revocation",
        "remove",
        "--key",
        &hospital,
        "--doctor",
        DOCTOR,
    ]);
    let (status, lifted) = check(&network, &[]);
    assert_eq!(
        (status, &lifted["revoked"]),
        (0, &Value::Bool(false)),
        "{lifted}"
    );
    network.ok(&release(&doctor, &patient_2, &record));
}
