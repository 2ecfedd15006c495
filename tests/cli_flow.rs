//! Issue 2's "done when" flow, through the `medchain` binary exactly as a user types it, on 4
//! validator processes: org register → approve → licence issue → record release → store → consent grant →
//! query with verified proof → access allowed → consent revoke → access denied → the access
//! log shows both (S2-register, S2-state, S1-release, S1-storage, S1-sharing, S1-rights); and
//! the same answers are refused when they do not verify against the user's genesis.

mod common;

use common::{Network, text};
use medchain_types::Role;
use serde_json::Value;
use std::fs;

/// `medchain ARGS`: its exit status and standard error.
fn exit(network: &Network, args: &[&str]) -> (i32, String) {
    let output = network.medchain(args);
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn the_issue_two_cli_flow_runs_against_four_validator_processes() {
    let mut network = Network::start(4);
    // S3-setup: the four validator processes set up the threshold PKG by themselves, and
    // agree on it.
    let pkgs = network.wait_for_pkg();
    assert!(
        pkgs.iter()
            .all(|pkg| pkg == &pkgs[0] && pkg.threshold == 3 && pkg.validators == 4),
        "{pkgs:?}"
    );
    let regulator = network.regulator_key.display().to_string();
    let (doctor, _) = network.keygen("doctor.key");
    let (patient, patient_address) = network.keygen("patient.key");
    let (researcher, researcher_address) = network.keygen("researcher.key");
    let (colleague, colleague_address) = network.keygen("colleague.key");

    // Block 0 verifies against the genesis the client recomputes; the chain moves.
    assert!(
        network
            .ok(&["query", "block", "0"])
            .contains("the genesis block, recomputed")
    );
    let status = network.ok(&["query", "status"]);
    assert!(
        status.contains("chain medchain-e2e") && status.contains("certificate signed by"),
        "{status}"
    );

    // S2-register / S2-state: register, only the regulator approves.
    let hospital = "Seoul General";
    let registered = network.json(&[
        "org", "register", "--key", &doctor, "--name", hospital, "--kind", "hospital",
    ]);
    assert_eq!(registered["kind"], "registry.register");
    assert!(
        registered["finalized"]["signers"].as_u64().unwrap() >= 3,
        "{registered}"
    );
    let org = network.json(&["query", "org", hospital]);
    assert_eq!(org["value"]["state"], "to_audit");
    // Saved now; replayed later by a lying node.
    let before_approval = network.path("org-before-approval.json");
    let before_approval = before_approval.display().to_string();
    network.ok(&["query", "org", hospital, "--save", &before_approval]);
    let refused = network.fails(&["org", "approve", "--key", &doctor, "--name", hospital]);
    assert!(refused.contains("only the regulator"), "{refused}");
    network.ok(&["org", "approve", "--key", &regulator, "--name", hospital]);
    let shown = network.ok(&["query", "org", hospital]);
    assert!(shown.contains("\"audited\""), "{shown}");
    assert!(
        shown.contains("proof verified against finalized block"),
        "{shown}"
    );

    // A colleague joins only with a member's endorsement (S2-register).
    let endorsement = network.json(&[
        "org",
        "endorse",
        "--key",
        &doctor,
        "--name",
        hospital,
        "--member",
        &colleague_address,
    ]);
    let endorsement = text(&endorsement["endorsement"]);
    let doctor_address = network
        .ok(&["address", "--key", &doctor])
        .trim()
        .to_string();
    network.ok(&[
        "org",
        "join",
        "--key",
        &colleague,
        "--name",
        hospital,
        "--endorser",
        &doctor_address,
        "--endorsement",
        &endorsement,
    ]);
    assert_eq!(
        network.json(&["query", "member", &colleague_address])["value"]["org"],
        hospital
    );

    // Releasing needs a licence (S3-register): the colleague acts as the hospital's identity and
    // licenses the doctor, who has enrolled.
    network.enrol(
        &network.path("colleague.key"),
        "seoul-general",
        Role::Hospital,
    );
    network.enrol(
        &network.path("doctor.key"),
        "dr-kim@seoul-general",
        Role::Doctor,
    );
    let licensed = network.json(&[
        "licence",
        "issue",
        "--key",
        &colleague,
        "--doctor",
        "dr-kim@seoul-general",
        "--expires",
        "30d",
    ]);
    assert_eq!(licensed["kind"], "licence.issue");
    let licence = network.json(&["licence", "show", "dr-kim@seoul-general"]);
    assert_eq!(licence["value"]["hospital"], "seoul-general");

    // A research institute, audited, whose founder will ask for access.
    network.ok(&[
        "org",
        "register",
        "--key",
        &researcher,
        "--name",
        "Busan Research",
        "--kind",
        "research",
    ]);
    network.ok(&[
        "org",
        "approve",
        "--key",
        &regulator,
        "--name",
        "Busan Research",
    ]);

    // S1-release: the doctor releases a record; only its hash goes on chain.
    let released = network.release_record(&doctor, &patient_address);
    let record = text(&released["record"]);
    assert_eq!(
        record,
        text(&released["tx"]),
        "the record id is the release tx id"
    );
    let on_chain = network.json(&["query", "record", &record]);
    assert_eq!(on_chain["value"]["patient"], patient_address.as_str());
    assert_eq!(on_chain["value"]["record_hash"], released["record_hash"]);

    // S1-storage: the patient files where the encrypted copy is.
    let blob = network.path("record.enc");
    fs::write(&blob, [7u8; 48]).unwrap();
    network.ok(&[
        "record",
        "store",
        "--key",
        &patient,
        // Any unique prefix of at least 4 hex digits stands for an id.
        "--record",
        &record[..10],
        "--blob",
        &blob.display().to_string(),
        "--location",
        "file:///blobs/record.enc",
    ]);
    assert_eq!(
        network.json(&["query", "storage", &record])["value"]["location"],
        "file:///blobs/record.enc"
    );

    // Deny by default (S1-rights): no consent yet.
    let access_request = |purpose| {
        [
            "access",
            "request",
            "--key",
            researcher.as_str(),
            "--record",
            record.as_str(),
            "--purpose",
            purpose,
        ]
    };
    let denied = network.denied(&access_request("research"));
    assert!(denied.contains("DENIED: no consent"), "{denied}");

    // S1-sharing: grant, then query it with a verified proof.
    let granted = network.json(&[
        "consent",
        "grant",
        "--key",
        &patient,
        "--grantee",
        &researcher_address,
        "--record",
        &record,
        "--purpose",
        "research",
        "--for",
        "30d",
    ]);
    let consent = text(&granted["consent"]);
    let shown = network.ok(&["query", "consent", &consent]);
    assert!(shown.contains(&researcher_address), "{shown}");
    assert!(
        shown.contains("proof verified against finalized block"),
        "{shown}"
    );
    let grant = network.json(&["query", "grant", &researcher_address, &record, "research"]);
    assert_eq!(text(&grant["value"]), consent);
    assert!(grant["verified"]["signers"].as_u64().unwrap() >= 3);
    // Another purpose stays denied.
    let treatment = network.denied(&access_request("treatment"));
    assert!(treatment.contains("DENIED"), "{treatment}");

    let allowed = network.ok(&access_request("research"));
    assert!(
        allowed.contains(&format!("ALLOWED under consent {consent}")),
        "{allowed}"
    );
    // The bound it agreed to pay is the verified consent's reward: none on a chain without
    // tokens.
    assert!(allowed.contains("max reward: 0"), "{allowed}");

    // Only the patient revokes; then access is denied.
    let stolen = network.fails(&[
        "consent",
        "revoke",
        "--key",
        &researcher,
        "--consent",
        &consent,
    ]);
    assert!(stolen.contains("rejected"), "{stolen}");
    network.ok(&[
        "consent",
        "revoke",
        "--key",
        &patient,
        "--consent",
        &consent[..10],
    ]);
    assert!(network.json(&["query", "consent", &consent])["value"]["revoked_at"].is_u64());
    let revoked = network.denied(&access_request("research"));
    assert!(
        revoked.contains("DENIED: the patient revoked the consent"),
        "{revoked}"
    );

    // The patient's access log holds every decision, each entry verified.
    let log = network.json(&["query", "access-log", &patient_address]);
    assert_eq!(log["total"], 4);
    let decisions: Vec<String> = log["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|entry| text(&entry["entry"]["decision"]["decision"]))
        .collect();
    assert_eq!(decisions, ["denied", "denied", "allowed", "denied"]);
    let human = network.ok(&["query", "access-log", &patient_address]);
    assert!(
        human.contains("ALLOWED under consent") && human.contains("DENIED: the patient revoked"),
        "{human}"
    );
    assert!(human.contains("4 entries verified"), "{human}");

    // Lists, every entry verified: nobody needs to keep a 64-hex id.
    let records = network.json(&["record", "list", "--key", &patient]);
    assert_eq!(records["total"], 1);
    assert_eq!(text(&records["entries"][0]["id"]), record);
    assert!(records["verified"]["signers"].as_u64().unwrap() >= 3);
    let table = network.ok(&["record", "list", "--patient", &patient_address]);
    assert!(
        table.contains(&record[..12])
            && !table.contains(&record)
            && table.contains("Seoul General")
            && table.contains("1 entry verified against finalized block"),
        "{table}"
    );
    let long = network.ok(&["record", "list", "--patient", &patient_address, "--long"]);
    assert!(long.contains(&record), "{long}");
    let consents = network.json(&["consent", "list", "--key", &patient]);
    assert_eq!(text(&consents["entries"][0]["id"]), consent);
    assert!(consents["entries"][0]["value"]["revoked_at"].is_u64());
    let table = network.ok(&["consent", "list", "--key", &patient]);
    assert!(
        table.contains("research") && table.contains("revoked (block"),
        "{table}"
    );
    let orgs = network.ok(&["org", "list"]);
    assert!(
        orgs.contains("Seoul General")
            && orgs.contains("Busan Research")
            && orgs.contains("audited"),
        "{orgs}"
    );
    let members = network.json(&["org", "members", hospital]);
    let listed: Vec<String> = members["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|entry| text(&entry["id"]))
        .collect();
    assert_eq!(listed, [doctor_address.clone(), colleague_address.clone()]);
    let (code, error) = exit(&network, &["org", "members", "Nowhere Clinic"]);
    assert_eq!(code, 4, "{error}");
    assert!(
        error.contains("not found") && error.contains("org list"),
        "{error}"
    );
    let (code, error) = exit(&network, &["record", "list"]);
    assert_ne!(code, 0, "{error}");
    assert!(error.contains("--patient"), "{error}");

    // Queries take prefixes too; a prefix of no id of that kind is not found (exit 4), and
    // fewer than 4 digits is a usage error (exit 2).
    let by_prefix = network.json(&["query", "record", &record[..8]]);
    assert_eq!(by_prefix["value"]["patient"], patient_address.as_str());
    assert_eq!(
        network.json(&["query", "consent", &consent[..8]])["value"]["grantee"],
        researcher_address.as_str()
    );
    let (code, error) = exit(&network, &["query", "record", &consent[..8]]);
    assert_eq!(code, 4, "{error}");
    assert!(error.contains("no record id starts with"), "{error}");
    let (code, error) = exit(&network, &["query", "tx", "abc"]);
    assert_eq!(code, 2, "{error}");

    // A transaction's receipt is shown with its verified inclusion.
    let tx = network.ok(&["query", "tx", &record[..8]]);
    assert!(
        tx.contains("finalized") && tx.contains("record_released"),
        "{tx}"
    );

    // One exit-status table (docs/cli.md): not found is 4, a usage error 2.
    assert_eq!(network.status(&["query", "org", "Nowhere Clinic"]), 4);
    assert_eq!(network.status(&["query", "tx", &"ab".repeat(32)]), 4);
    assert_eq!(network.status(&["query", "block", "99999999"]), 4);
    let mut bad_duration = access_request("research").to_vec();
    bad_duration.splice(0..2, ["consent", "grant"]);
    bad_duration.extend(["--grantee", researcher_address.as_str(), "--for", "30days"]);
    assert_eq!(network.status(&bad_duration), 2);
    // Every verified answer shows its block's height and time.
    let shown = network.ok(&["query", "org", hospital]);
    assert!(shown.contains("Z; certificate signed by"), "{shown}");

    // Freshness: another validator's newest finalized block bounds how old an answer is.
    let node1 = network.nodes[1].api.clone();
    let checked = network.ok(&["query", "org", hospital, "--cross-check", &node1]);
    assert!(checked.contains("cross-checked with"), "{checked}");
    // A node replaying the old (validly certified) answer: alone it would be believed,
    // the cross-check refuses it.
    let replayed: Value =
        serde_json::from_str(&fs::read_to_string(&before_approval).unwrap()).unwrap();
    let liar = common::replaying_node(replayed["answer"].to_string());
    let believed = network.json(&["query", "org", hospital, "--node", &liar]);
    assert_eq!(believed["value"]["state"], "to_audit");
    let refused = network.fails(&[
        "query",
        "org",
        hospital,
        "--node",
        &liar,
        "--cross-check",
        &node1,
        "--max-lag",
        "2",
    ]);
    assert!(
        refused.contains("behind or serving an old state"),
        "{refused}"
    );

    // A transaction the node dropped (issue 7 §3): the reason is printed, exit status 5.
    let dropped_id = "ab".repeat(32);
    let dropping = common::replaying_node(
        serde_json::json!({
            "id": dropped_id,
            "status": "dropped",
            "receipt": null,
            "dropped": {
                "reason": "failed",
                "error": "org_exists",
                "message": "failed when a block was built: organisation exists",
                "height": 3
            }
        })
        .to_string(),
    );
    let output = network.medchain(&["query", "tx", &dropped_id, "--node", &dropping]);
    let printed = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(5), "{printed}");
    assert!(
        printed.contains("dropped") && printed.contains("organisation exists"),
        "{printed}"
    );

    // Offline verification: answers saved now verify later with no node at all.
    let saved = |name: &str, query: &[&str]| {
        let path = network.path(name).display().to_string();
        let mut args = query.to_vec();
        args.extend(["--save", path.as_str()]);
        network.ok(&args);
        path
    };
    let saved_org = saved("org.json", &["query", "org", hospital]);
    let saved_log = saved("log.json", &["query", "access-log", &patient_address]);
    let saved_block = saved("block.json", &["query", "block", "3"]);
    let saved_tx = saved("tx.json", &["query", "tx", &record]);
    let later = network.ok(&["verify", &before_approval, "--cross-check", &node1]);
    assert!(
        later.contains("blocks (") && later.contains("behind it"),
        "{later}"
    );
    let mut tampered: Value =
        serde_json::from_str(&fs::read_to_string(&saved_org).unwrap()).unwrap();
    let value = text(&tampered["answer"]["proven"]["value"]);
    let flipped = if value.ends_with('0') { "1" } else { "0" };
    tampered["answer"]["proven"]["value"] =
        Value::String(format!("{}{flipped}", &value[..value.len() - 1]));
    let tampered_path = network.path("tampered.json");
    fs::write(&tampered_path, tampered.to_string()).unwrap();

    // The same answers are refused under a genesis naming other validators.
    // (same chain id and regulator, other validators: certificates no longer verify).
    let mut genesis: Value =
        serde_json::from_str(&fs::read_to_string(&network.genesis).unwrap()).unwrap();
    for validator in genesis["validators"].as_array_mut().unwrap() {
        let key = network.path(&format!(
            "impostor-{}.key",
            validator["name"].as_str().unwrap()
        ));
        let out = network.ok(&["keygen", "--out", &key.display().to_string()]);
        let address = out
            .lines()
            .find_map(|l| l.strip_prefix("address: "))
            .unwrap()
            .to_string();
        validator["public_key"] = Value::String(address);
    }
    let forged = network.path("forged-genesis.json");
    fs::write(&forged, serde_json::to_string(&genesis).unwrap()).unwrap();
    let forged = forged.display().to_string();
    // The error names both chains (genesis digests), not "signatures do not verify".
    let error = network.fails(&["query", "status", "--genesis", &forged]);
    assert!(error.contains("serves another chain"), "{error}");
    assert_eq!(error.matches("genesis digest").count(), 2, "{error}");
    let regulator_address = network.ok(&["address", "--key", &regulator]);
    let error = network.fails(&[
        "query",
        "account",
        "--genesis",
        &forged,
        regulator_address.trim(),
    ]);
    assert!(error.contains("serves another chain"), "{error}");
    genesis["chain_id"] = Value::String("medchain-other".into());
    let other_chain = network.path("other-chain.json");
    fs::write(&other_chain, genesis.to_string()).unwrap();
    let error = network.fails(&[
        "query",
        "status",
        "--genesis",
        &other_chain.display().to_string(),
    ]);
    assert!(
        error.contains("chain medchain-e2e") && error.contains("chain medchain-other"),
        "{error}"
    );
    let error = network.fails(&["verify", &saved_org, "--genesis", &forged]);
    assert!(error.contains("verification failed"), "{error}");

    // A node that is not running: the error says what to do.
    let error = network.fails(&["query", "status", "--node", "http://127.0.0.1:1"]);
    assert!(error.contains("medchain devnet"), "{error}");

    // With every validator stopped, the saved answers still verify: no node is needed.
    for index in 0..network.nodes.len() {
        network.kill(index);
    }
    for (path, shows) in [
        (&saved_org, "\"audited\""),
        (&saved_log, "4 entries verified"),
        (&saved_block, "block 3 "),
        (&saved_tx, "record_released"),
    ] {
        let shown = network.ok(&["verify", path]);
        assert!(
            shown.contains("verified offline") && shown.contains(shows),
            "{shown}"
        );
    }
    let kinds: Vec<Value> = [&saved_org, &saved_log, &saved_block, &saved_tx]
        .iter()
        .map(|path| network.json(&["verify", path])["kind"].clone())
        .collect();
    assert_eq!(kinds, ["state_value", "access_log", "block", "transaction"]);
    let error = network.fails(&["verify", &tampered_path.display().to_string()]);
    assert!(error.contains("verification failed"), "{error}");
}

/// Runs `medchain devnet` on `dir` until its banner is complete, then stops it (SIGTERM) and
/// returns the banner. `medchain` is kept off PATH, as after `cargo build`.
fn devnet_banner(dir: &std::path::Path, p2p: u16, api: u16) -> String {
    use std::io::{BufRead as _, BufReader};
    let mut devnet = std::process::Command::new(common::MEDCHAIN)
        .args(["devnet", "--dir", "net", "--validators", "1"])
        .arg("--circuit")
        .arg(common::shared_circuit())
        .args(["--p2p-base-port", &p2p.to_string()])
        .args(["--api-base-port", &api.to_string()])
        .current_dir(dir)
        .env("PATH", "/usr/bin:/bin")
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("start medchain devnet");
    let mut banner = String::new();
    let mut lines = BufReader::new(devnet.stdout.take().unwrap()).lines();
    for line in lines.by_ref() {
        let line = line.unwrap();
        banner.push_str(&line);
        banner.push('\n');
        if line.starts_with("Ctrl-C stops") {
            break;
        }
    }
    let pid = nix::unistd::Pid::from_raw(devnet.id() as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).unwrap();
    // Read on until it exits: it reports stopping on the same pipe.
    let goodbye: Vec<String> = lines.map_while(Result::ok).collect();
    let status = devnet.wait().unwrap();
    assert!(status.success(), "devnet exited with {status}: {goodbye:?}");
    banner
}

/// The cloud proxies a devnet banner lists with their URLs.
fn proxies_listed(banner: &str) -> usize {
    banner
        .lines()
        .filter(|line| line.trim_start().starts_with("cloud-") && line.contains("http://"))
        .count()
}

#[test]
fn the_devnet_banner_prints_commands_that_run_as_shown_and_resumes_with_its_own() {
    let dir = tempfile::tempdir().unwrap();
    let (p2p, api) = common::free_port_bases(1);
    let fresh = devnet_banner(dir.path(), p2p, api);
    assert!(fresh.contains("quick start"), "{fresh}");
    // S3-setup: the devnet comes up with its threshold PKG.
    assert!(
        fresh.contains("threshold PKG ready: 1 of 1 validators"),
        "{fresh}"
    );
    assert!(fresh.contains("cargo install --path ."), "{fresh}");
    // S4-flow: the research market is set up — circuit registered, three proxies running.
    assert!(
        fresh.contains("research market") && fresh.contains("threshold 2 of 3"),
        "{fresh}"
    );
    assert_eq!(proxies_listed(&fresh), 3, "{fresh}");
    // S3-dual: both chains run, every validator mining MED.
    assert!(
        fresh.contains("MED chain: every validator mines"),
        "{fresh}"
    );
    let keygen = fresh
        .lines()
        .find(|line| line.contains("keygen --out doctor.key"))
        .unwrap_or_else(|| panic!("no keygen command:\n{fresh}"))
        .trim();
    assert!(!keygen.starts_with("medchain "), "not on PATH: {keygen}");
    let ran = std::process::Command::new("sh")
        .args(["-c", keygen])
        .current_dir(dir.path())
        .env("PATH", "/usr/bin:/bin")
        .env("MEDCHAIN_PASSPHRASE", common::PASSPHRASE)
        .output()
        .unwrap();
    assert!(
        ran.status.success() && dir.path().join("doctor.key").exists(),
        "`{keygen}` does not run as shown: {}",
        String::from_utf8_lossy(&ran.stderr)
    );

    let resumed = devnet_banner(dir.path(), p2p, api);
    assert!(resumed.contains("resumed the chain at height"), "{resumed}");
    assert!(resumed.contains("threshold PKG ready"), "{resumed}");
    assert_eq!(proxies_listed(&resumed), 3, "{resumed}");
    assert!(
        resumed.contains("MED chain: every validator mines"),
        "{resumed}"
    );
    assert!(!resumed.contains("quick start"), "{resumed}");
}
