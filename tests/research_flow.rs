//! Issue 12's research market through the `medchain` binary on 4 validator processes with fees
//! on (S4-flow, S4-exclusive): the regulator registers the circuit `medchain init` set up; a
//! hospital's gateway releases and attests a type 2 diabetes record; a researcher publishes and
//! funds studies served by three `medchain cloud` proxies with threshold 2; the patient sees
//! only the studies its record qualifies for (evaluated locally), enrols with a proof the chain
//! verifies, is paid an advance (its fee) at a one-time address, and cannot enrol twice; the
//! researcher reads the record through the proxies with one of them killed, gets the released
//! bundle's bytes with its delivery tag verified, and acknowledges it; the patient's claim of
//! the owed rest is refused before that and paid after; a disputed enrolment is paid only once
//! the regulator resolves it so; an exclusive study refuses the record
//! already shared; a study the record does not qualify for cannot be enrolled in; and a
//! commitment the patient made itself is refused.

mod common;

use common::{Network, hospital::Storage, text};
use medchain_client::{ClientError, StateQuery, WaitPolicy, build, keys};
use medchain_research::derive;
use medchain_types::{
    ContentHash, Payload, PrivateKey,
    research::{ResearchPayload, StudyId, enrolment_binding},
};
use serde_json::Value;
use std::{
    fs,
    path::Path,
    time::{SystemTime, UNIX_EPOCH},
};

/// A committed synthetic FHIR R4 bundle: a woman born 1963 with E11.9 and HbA1c 8.4 %.
const BUNDLE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/fixtures/fhir/type2_diabetes-2-0000.json"
);

fn number(value: &Value) -> u64 {
    value
        .as_u64()
        .unwrap_or_else(|| panic!("not a number: {value}"))
}

/// `research show --json` of a study: its verified value.
fn study(network: &Network, id: &str) -> Value {
    network.json(&["research", "show", id])["value"].clone()
}

#[test]
fn a_patient_enrols_with_a_verified_proof_is_paid_and_the_researcher_reads_through_two_of_three_proxies()
 {
    let mut network = Network::start_with(4, &["--fees", "default", "--epoch-length", "100000"]);
    network.fund_new_keys = Some(200_000);
    network.wait_for_pkg();

    // The operators: the circuit, a research and a cloud organisation, three proxies.
    network.register_circuit();
    network.funded_org("Busan Research", "research", "researcher-1", &[]);
    network.funded_org("Seoul Cloud", "cloud", "cloud-1", &["cloud-2", "cloud-3"]);
    let mut proxies: Vec<_> = ["cloud-1", "cloud-2", "cloud-3"]
        .iter()
        .map(|account| network.start_proxy(account))
        .collect();
    let proxy_urls: Vec<String> = proxies.iter().map(|proxy| proxy.url.clone()).collect();

    // A hospital with its gateway and a doctor; the patient enrols there (which files its
    // nullifier key), and the doctor writes the record, which the gateway attests.
    let (hospital, mut doctors) = network.hospital("Seoul General", "seoul-general", &["dr-kim"]);
    let doctor = doctors.pop().unwrap();
    let gateway = network.start_gateway(&hospital, &Storage::Embedded);
    let (patient, patient_address) = network.keygen("patient.key");
    network.ok(&["identity", "enrol", "--key", &patient, "--role", "patient"]);
    let enrolled = network.json(&[
        "patient",
        "enrol",
        "--key",
        &patient,
        "--hospital",
        &gateway.url,
    ]);
    assert!(
        enrolled["nullifier_key_tx"].is_string(),
        "patient enrol files the nullifier key: {enrolled}"
    );
    assert!(
        network.json(&["patient", "nullifier-key", "--key", &patient])["filed"].is_null(),
        "a second filing is not needed"
    );
    let record_id = network.attested_record(&doctor, &gateway, &patient_address, BUNDLE);
    let client = network.client(0);

    // The researcher publishes four studies on the three proxies (threshold 2) and funds
    // them: one the record qualifies for, one it does not, an exclusive one, and a follow-up.
    let researcher = network.account("researcher-1").display().to_string();
    let publish = |title: &str, predicate: &str, reward: &str, extra: &[&str]| {
        let mut terms = vec![
            "--title",
            title,
            "--predicate",
            predicate,
            "--reward",
            reward,
            "--participants",
            "5",
            "--deadline",
            "1d",
            "--threshold",
            "2",
        ];
        for url in &proxy_urls {
            terms.extend(["--proxy", url]);
        }
        terms.extend(extra);
        network.publish_funded(&researcher, &terms, 2000)
    };
    // A reward must exceed the enrolment's fee (about 520 here), which it pays.
    let diabetes = publish(
        "T2D and HbA1c",
        "age in 40..=75 and icd10 == E11 and hba1c >= 6.5",
        "1000",
        &[],
    );
    let kidney = publish("CKD", "icd10 == N18", "1000", &[]);
    let exclusive = publish("Exclusive T2D", "icd10 == E11", "800", &["--exclusive"]);
    let follow_up = publish("T2D follow-up", "icd10 == E11", "1000", &[]);
    assert_eq!(number(&study(&network, &diabetes)["pooled"]), 2000);

    // Evaluated locally: the patient sees the diabetes studies, not the kidney one.
    let studies = network.json(&["patient", "studies", "--key", &patient]);
    let listed: Vec<String> = studies["studies"]
        .as_array()
        .unwrap_or_else(|| panic!("no studies: {studies}"))
        .iter()
        .map(|s| text(&s["study"]))
        .collect();
    assert!(
        listed.contains(&diabetes) && listed.contains(&exclusive),
        "{studies}"
    );
    assert!(!listed.contains(&kidney), "{studies}");

    // A study the record does not qualify for cannot be enrolled in; nothing changes.
    let refused = network.fails(&[
        "patient",
        "enrol-study",
        "--key",
        &patient,
        "--study",
        &kidney,
    ]);
    assert!(refused.contains("requirements"), "{refused}");
    assert_eq!(number(&study(&network, &kidney)["enrolled"]), 0);

    // The enrolment: proof verified on chain, an advance paid to the one-time address (its
    // fee), the rest of the reward owed; record delivered to the three proxies.
    let enrolment = network.json(&[
        "patient",
        "enrol-study",
        "--key",
        &patient,
        "--study",
        &diabetes,
    ]);
    let (advance, owed) = (number(&enrolment["advance"]), number(&enrolment["owed"]));
    assert_eq!(advance + owed, 1000, "{enrolment}");
    assert!(advance > 0 && owed > 0, "{enrolment}");
    assert_eq!(number(&enrolment["delivered"]), 3, "{enrolment}");
    let payee = text(&enrolment["payee"]);
    assert_ne!(
        payee, patient_address,
        "the enrolment is not filed by the patient's address"
    );
    let balance = || number(&network.json(&["token", "balance", "--address", &payee])["balance"]);
    assert_eq!(
        balance(),
        0,
        "the advance paid the enrolment's fee, nothing more"
    );
    let in_history = |kind: &str, amount: u64| {
        let history = network.json(&["token", "history", "--address", &payee]);
        let found = history["entries"].as_array().is_some_and(|entries| {
            entries
                .iter()
                .any(|entry| entry["id"]["kind"] == kind && entry["id"]["amount"] == amount)
        });
        assert!(
            found,
            "no {kind} of {amount} in the payee's history: {history}"
        );
    };
    in_history("study_reward", advance);
    let after = study(&network, &diabetes);
    assert_eq!(
        (
            number(&after["enrolled"]),
            number(&after["pooled"]),
            number(&after["owed"])
        ),
        (1, 1000, owed)
    );

    // A second enrolment of the same patient in the same study is refused.
    network.fails(&[
        "patient",
        "enrol-study",
        "--key",
        &patient,
        "--study",
        &diabetes,
    ]);
    assert_eq!(number(&study(&network, &diabetes)["enrolled"]), 1);

    // The researcher reads the record through 2 of the 3 proxies, the third killed.
    proxies[2].kill();
    let enrolment_id = text(&enrolment["enrolment"]);
    let out = network.path("read.json").display().to_string();
    let read = network.json(&[
        "research",
        "read",
        "--key",
        &researcher,
        "--enrolment",
        &enrolment_id,
        "--out",
        &out,
    ]);
    assert_eq!(
        fs::read(&out).unwrap(),
        fs::read(BUNDLE).unwrap(),
        "the researcher reads the released bundle: {read}"
    );
    assert_eq!(read["used"].as_array().map(Vec::len), Some(2), "{read}");
    assert_eq!(read["delivery_verified"], true, "{read}");
    let results = network.json(&["research", "results", &diabetes]);
    assert_eq!(number(&results["total"]), 1, "{results}");

    // Accountable payment: the owed rest is not the patient's until the researcher
    // acknowledges the record (or the dispute window passes); then the patient's claim,
    // signed by the one-time key and paying its fee from what it takes, is paid.
    let claim = ["patient", "claim", "--key", &patient, "--study", &diabetes];
    network.fails(&claim);
    assert_eq!(balance(), 0);
    network.ok(&[
        "research",
        "acknowledge",
        "--key",
        &researcher,
        "--enrolment",
        &enrolment_id,
    ]);
    let claimed = network.json(&claim);
    assert_eq!(number(&claimed["amount"]), owed, "{claimed}");
    let paid = balance();
    assert!(
        paid > 0 && paid < owed,
        "the payee holds the owed reward less the claim's fee: {paid}"
    );
    in_history("study_reward_claimed", owed);
    assert_eq!(number(&study(&network, &diabetes)["owed"]), 0);
    network.fails(&claim);

    // A disputed delivery waits for the regulator: the researcher disputes an enrolment in a
    // second study, the patient cannot claim, the regulator resolves it in the patient's
    // favour (only the regulator may), and the claim is paid.
    // (Published with the others above, while all three proxies ran.)
    let second = network.json(&[
        "patient",
        "enrol-study",
        "--key",
        &patient,
        "--study",
        &follow_up,
    ]);
    let second_id = text(&second["enrolment"]);
    let second_owed = number(&second["owed"]);
    network.ok(&[
        "research",
        "dispute",
        "--key",
        &researcher,
        "--enrolment",
        &second_id,
    ]);
    let claim_second = ["patient", "claim", "--key", &patient, "--study", &follow_up];
    network.fails(&claim_second);
    let regulator = network.regulator_key.display().to_string();
    for (key, accepted) in [(&researcher, false), (&regulator, true)] {
        let resolve = [
            "research",
            "resolve",
            "--key",
            key.as_str(),
            "--enrolment",
            &second_id,
            "--decision",
            "pay",
        ];
        if accepted {
            network.ok(&resolve);
        } else {
            network.fails(&resolve);
        }
    }
    let claimed = network.json(&claim_second);
    assert_eq!(number(&claimed["amount"]), second_owed, "{claimed}");

    // S4-exclusive: the record was shared with a study already, so an exclusive study
    // refuses it (the chain's rule, applied when the node admits the enrolment; nothing paid).
    let refused = network.fails(&[
        "patient",
        "enrol-study",
        "--key",
        &patient,
        "--study",
        &exclusive,
    ]);
    assert!(refused.contains("shared with a study before"), "{refused}");
    let exclusive_after = study(&network, &exclusive);
    assert_eq!(
        (
            number(&exclusive_after["enrolled"]),
            number(&exclusive_after["pooled"])
        ),
        (0, 2000)
    );

    // A commitment the patient makes itself is refused: only the record's hospital attests,
    // and a proof about it is about no root the chain's accumulator ever had.
    let patient_key = common::private_key(Path::new(&patient));
    let self_attested = client.signer(patient_key.clone()).send(
        Payload::Research(ResearchPayload::Attest {
            record: record_id,
            commitment: [7u8; 32].into(),
        }),
        Some(&WaitPolicy::default()),
    );
    assert!(
        self_attested.is_err(),
        "a patient's own attestation was accepted"
    );
    let kidney_pool = number(&study(&network, &kidney)["pooled"]);
    let exclusive_id: StudyId = exclusive.parse().expect("a study id");
    match self_made_enrolment(&network, &patient_key, &exclusive_id) {
        // The node applies the chain's rules before it admits an enrolment.
        Err(ClientError::Api { body, .. }) => assert!(
            body.message.contains("accumulator root is unknown"),
            "{body:?}"
        ),
        Err(ClientError::Dropped { reason, .. }) => {
            assert_eq!(reason.error.as_deref(), Some("unknown_root"), "{reason:?}")
        }
        other => panic!("an enrolment proven against a self-made commitment: {other:?}"),
    }
    assert_eq!(number(&study(&network, &exclusive)["enrolled"]), 0);
    assert_eq!(number(&study(&network, &kidney)["pooled"]), kidney_pool);
}

/// An enrolment in `study` with a valid proof about a commitment the patient made itself (its
/// own opening of the bundle, in a tree of its own): sent from a fresh key, waited for.
fn self_made_enrolment(
    network: &Network,
    patient: &PrivateKey,
    study: &StudyId,
) -> Result<medchain_client::Confirmed, ClientError> {
    let client = network.client(0);
    let contract = client
        .read(&StateQuery::study(study))
        .expect("the study")
        .value
        .expect("published");
    let schema = zk::Schema::clinical_v1();
    let days = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_secs()
        / 86_400;
    let today = zk::NaiveDate::from_num_days_from_ce_opt(719_163 + days as i32).expect("a date");
    let record = zk::record_from_bundle(&fs::read_to_string(BUNDLE).unwrap(), &schema, today)
        .expect("the bundle's attributes");
    let secret = derive::patient_secret(patient);
    let mut rng = rand_core_06::OsRng;
    let opening = zk::RecordOpening::random(
        &schema,
        record,
        secret.nullifier_key(),
        ContentHash::of(&fs::read(BUNDLE).unwrap()).0.0,
        &mut rng,
    )
    .expect("an opening");
    let commitment = opening.commit().expect("a commitment");
    let path = zk::membership_path(&[commitment], 0).expect("a path in a tree of one");
    let bytes = fs::read(network.path("zk/proving-key.bin")).expect("the proving key");
    let proving_key =
        zk::ProvingKey::from_trusted_bytes(&bytes, &zk::ProvingKey::digest_of(&bytes))
            .expect("the proving key loads");
    let sender = keys::generate();
    let payee = keys::address_of(&sender);
    let study_keys = derive::study_keys(patient, study);
    let (delegating, verifying) = (
        study_keys.delegating_public(),
        study_keys.verifying_public(),
    );
    let ciphertext_hash = ContentHash::of(b"never uploaded");
    let binding = zk::binding_of(&enrolment_binding(
        &payee,
        &delegating,
        &verifying,
        &ciphertext_hash,
    ));
    let predicate = zk::Predicate::from_bytes(&contract.predicate.0).expect("the predicate");
    let mut study_bytes = [0u8; 32];
    study_bytes.copy_from_slice(study.0.as_ref());
    let witness = zk::EnrolmentWitness {
        opening: &opening,
        secret: &secret,
        path: &path,
    };
    let (statement, proof) = zk::prove(
        &proving_key,
        &witness,
        &predicate,
        zk::study_tag(&study_bytes),
        binding,
        &mut rng,
    )
    .expect("a valid proof about the self-made commitment");
    let payload = build::enrol(build::Enrolment {
        study: *study,
        root: statement.root.0.into(),
        nullifier: statement.nullifier.0.into(),
        exclusivity: statement.exclusivity.0.into(),
        delivery: statement.delivery.0.into(),
        proof: proof.to_bytes().to_vec(),
        delegating_key: delegating.to_vec(),
        verifying_key: verifying.to_vec(),
        ciphertext_hash,
    })
    .expect("an enrolment payload");
    let tx = client.signer(sender).sign(payload, 0)?;
    let id = client.node.submit(&tx)?;
    client.wait_finalized(&id, &WaitPolicy::default())
}
