//! Issue 11's token flow through the `medchain` binary on 4 validator processes with fees on
//! (S1-tokens, S1-utxo): a researcher of an audited research organisation requests a record
//! under a consent whose patient asked a reward of 50 — the patient's verified balance grows by
//! 50, the researcher's shrinks by 50 plus the fee, and both histories show it; a payment from
//! coins returns its change; an overspend fails with an explained error and its exit status;
//! and a flood from fresh (unfunded) keys is refused at the door for lack of funds.

mod common;

use common::{Network, private_key, text};
use medchain_client::{WaitPolicy, build, keys};
use medchain_types::{OrgName, Role, Transaction};
use serde_json::Value;

/// Exit status of a command the chain or the wallet found unaffordable (src/exit.rs).
const UNAFFORDABLE: i32 = 9;

fn number(value: &Value) -> u64 {
    value
        .as_u64()
        .unwrap_or_else(|| panic!("not a number: {value}"))
}

/// `token balance --json` of a key file: (balance, coins), verified.
fn tokens(network: &Network, key: &str) -> (u64, u64) {
    let shown = network.json(&["token", "balance", "--key", key]);
    assert!(
        shown["verified"]["signers"].as_u64().unwrap_or(0) >= 3,
        "{shown}"
    );
    (number(&shown["balance"]), number(&shown["coins"]))
}

/// `token history --json` of a key file: (kind, amount, counterparty) of each entry.
fn history(network: &Network, key: &str) -> Vec<(String, u64, String)> {
    let shown = network.json(&["token", "history", "--key", key]);
    shown["entries"]
        .as_array()
        .unwrap_or_else(|| panic!("no entries: {shown}"))
        .iter()
        .map(|entry| {
            let entry = &entry["id"];
            (
                text(&entry["kind"]),
                number(&entry["amount"]),
                entry["counterparty"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect()
}

fn address(network: &Network, key: &str) -> String {
    network.ok(&["address", "--key", key]).trim().to_string()
}

#[test]
fn a_consented_access_pays_the_patient_and_overspending_and_unfunded_floods_are_refused() {
    let network = Network::start_with(4, &["--fees", "default", "--epoch-length", "100000"]);
    let regulator = network.regulator_key.display().to_string();
    let account = |name: &str| network.account(name).display().to_string();
    let (hospital, patient, researcher) = (
        account("hospital-1"),
        account("patient-1"),
        account("researcher-1"),
    );
    let (patient_address, researcher_address) =
        (address(&network, &patient), address(&network, &researcher));

    // A fresh key holds nothing: its first transaction is refused before it is sent, saying
    // how to fund it, and `token send --to-balance` from a funded account does.
    let (doctor, doctor_address) = network.keygen("doctor.key");
    let refused = network.medchain(&[
        "org",
        "register",
        "--key",
        &doctor,
        "--name",
        "Kim Clinic",
        "--kind",
        "hospital",
    ]);
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert_eq!(refused.status.code(), Some(UNAFFORDABLE), "{stderr}");
    assert!(
        stderr.contains("not enough tokens")
            && stderr.contains("holds 0")
            && stderr.contains(&format!("--to {doctor_address}")),
        "{stderr}"
    );
    let funded = network.json(&[
        "token",
        "send",
        "--key",
        &regulator,
        "--to",
        &doctor_address,
        "--amount",
        "100000",
        "--to-balance",
    ]);
    assert!(number(&funded["fee"]) > 0, "{funded}");
    assert_eq!(tokens(&network, &doctor), (100_000, 0));

    // An audited hospital with a licensed doctor, and an audited research organisation.
    network.register_org(&hospital, "Seoul General");
    network.approve_org("Seoul General");
    network.join_org(&doctor, "Seoul General", &hospital);
    // Identities bound on chain through the client library (their PKG keys are not needed
    // here): each signer pays its fee like any other transaction.
    let client = network.client(0);
    let wait = WaitPolicy::default();
    for (key, identity, role) in [
        (
            keys::load_key(&network.account("hospital-1"), keys::no_passphrase)
                .unwrap()
                .key,
            "seoul-general",
            Role::Hospital,
        ),
        (
            private_key(&network.path("doctor.key")),
            "dr-kim@seoul-general",
            Role::Doctor,
        ),
    ] {
        client
            .signer(key)
            .send(common::enrolment(identity, role), Some(&wait))
            .unwrap_or_else(|e| panic!("enrol {identity}: {e}\n{}", network.logs()));
    }
    network.ok(&[
        "licence",
        "issue",
        "--key",
        &hospital,
        "--doctor",
        "dr-kim@seoul-general",
        "--expires",
        "30d",
    ]);
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
    network.approve_org("Busan Research");

    // The record, and the patient's consent asking 50 tokens per access.
    let released = network.release_record(&doctor, &patient_address);
    let record = text(&released["record"]);
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
        "--reward",
        "50",
    ]);
    let consent = text(&granted["consent"]);
    assert_eq!(
        network.json(&["query", "consent", &consent])["value"]["reward"],
        50
    );

    // S1-tokens: the access pays the patient 50; the researcher pays 50 and the fee.
    let (patient_before, _) = tokens(&network, &patient);
    let (researcher_before, _) = tokens(&network, &researcher);
    let allowed = network.json(&[
        "access",
        "request",
        "--key",
        &researcher,
        "--record",
        &record,
        "--purpose",
        "research",
    ]);
    assert_eq!(allowed["decision"]["decision"], "allowed", "{allowed}");
    let fee = number(&allowed["fee"]);
    assert!(fee > 0);
    assert_eq!(tokens(&network, &patient).0, patient_before + 50);
    assert_eq!(
        tokens(&network, &researcher).0,
        researcher_before - 50 - fee
    );
    assert!(
        history(&network, &patient).contains(&(
            "access_reward".into(),
            50,
            researcher_address.clone()
        )),
        "{:?}",
        history(&network, &patient)
    );
    assert!(
        history(&network, &researcher).contains(&(
            "access_paid".into(),
            50,
            patient_address.clone()
        )),
        "{:?}",
        history(&network, &researcher)
    );
    let shown = network.ok(&["token", "history", "--key", &patient]);
    assert!(
        shown.contains("access reward") && shown.contains("+50"),
        "{shown}"
    );

    // S1-utxo: a payment from coins spends the largest and returns the change; the fee is
    // what it spends beyond the amount and the change, and the balance is untouched.
    let (payer, payee) = (account("patient-2"), account("patient-3"));
    let payee_address = address(&network, &payee);
    let (payer_balance, payer_coins) = tokens(&network, &payer);
    let (_, payee_coins) = tokens(&network, &payee);
    let paid = network.json(&[
        "token",
        "send",
        "--key",
        &payer,
        "--to",
        &payee_address,
        "--amount",
        "1234",
    ]);
    let fee = number(&paid["fee"]);
    assert_eq!(tokens(&network, &payee).1, payee_coins + 1234);
    assert_eq!(
        tokens(&network, &payer),
        (payer_balance, payer_coins - 1234 - fee)
    );
    let outputs = network.json(&["token", "balance", "--key", &payer])["outputs"].clone();
    assert_eq!(
        outputs.as_array().map(Vec::len),
        Some(2),
        "the untouched coin and the change: {outputs}"
    );
    assert!(history(&network, &payer).contains(&("sent".into(), 1234, payee_address.clone())));

    // An overspend is refused before anything is sent, saying what there is and how to fund.
    for overspend in [
        vec!["--amount", "10000000"],
        vec!["--amount", "5000000", "--from-balance"],
    ] {
        let mut args = vec!["token", "send", "--key", &payer, "--to", &payee_address];
        args.extend(overspend);
        let output = network.medchain(&args);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(UNAFFORDABLE), "{stderr}");
        assert!(
            stderr.contains("not enough tokens") && stderr.contains("--to-balance"),
            "{stderr}"
        );
    }
    assert_eq!(
        tokens(&network, &payer),
        (payer_balance, payer_coins - 1234 - fee),
        "a refused payment changes nothing"
    );

    // The flood of issue 7 — throwaway keys, nonces far ahead — now costs money its senders
    // do not have: every transaction is refused at admission.
    let flood: Vec<Transaction> = (0..16)
        .map(|i| {
            let key = medchain_client::keys::generate();
            let payload = build::register_org(
                OrgName::new(format!("Flood {i}")).unwrap(),
                medchain_types::OrgKind::Research,
            );
            client.signer(key).sign(payload, 5).unwrap()
        })
        .collect();
    let response = network.node_client(1).submit_batch(&flood).unwrap();
    for item in response.results {
        let error = item.error.expect("an unfunded flood must be refused");
        assert_eq!(error.error, "cannot_afford", "{error:?}");
    }
}
