//! Threshold enrolment (issue 8 §2) on 4 validator processes whose key generation runs at
//! start: `medchain identity enrol` with every validator up; with one Byzantine validator
//! answering a wrong partial key (detected, named, left out); with only t − 1 validators
//! reachable (a clear error naming the others); and the enrolment routes' refusals against the
//! real chain — an identity bound to another address, an unbound identity, a doctor whose
//! hospital is no longer audited, a forged or replayed request, a flood of round-1 requests.

mod common;

use common::{Network, PASSPHRASE};
use medchain_api::{CommitmentView, EnrolmentRequestView, PartialKeyView};
use medchain_client::{ClientError, StateQuery, keys};
use medchain_types::{
    Address, IdentityName, PrivateKey,
    enrolment::{EnrolmentRequest, EnrolmentRoute},
};
use std::{
    io::{BufRead as _, BufReader, Read as _, Write as _},
    net::TcpListener,
    sync::{Arc, Mutex},
    thread,
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

/// Waits until the validators' key generation has put the threshold PKG on chain.
fn wait_for_pkg(network: &Network) {
    let client = network.client(0);
    let start = Instant::now();
    while client
        .read(&StateQuery::pkg())
        .map_or(true, |pkg| pkg.value.is_none())
    {
        assert!(
            start.elapsed() < common::READY_TIMEOUT,
            "no threshold PKG on chain\n{}",
            network.logs()
        );
        thread::sleep(Duration::from_millis(500));
    }
}

/// `medchain keygen` into `name`, returning its path and private key.
fn keygen(network: &Network, name: &str) -> (String, PrivateKey) {
    let (path, _) = network.keygen(name);
    let key = common::private_key(std::path::Path::new(&path));
    (path, key)
}

fn address(key: &PrivateKey) -> Address {
    keys::address_of(key)
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

/// A round-1 request for `identity` naming `requester`, signed by `signer` now.
fn round_one(
    network: &Network,
    requester: &PrivateKey,
    signer: &PrivateKey,
    identity: &IdentityName,
    session: u8,
) -> EnrolmentRequestView {
    signed_at(network, requester, signer, identity, session, now_ms())
}

/// A round-1 request signed at `issued_at_ms`.
fn signed_at(
    network: &Network,
    requester: &PrivateKey,
    signer: &PrivateKey,
    identity: &IdentityName,
    session: u8,
    issued_at_ms: u64,
) -> EnrolmentRequestView {
    let genesis = keys::read_genesis(&network.genesis).unwrap();
    let request = EnrolmentRequest {
        chain_id: genesis.chain_id,
        route: EnrolmentRoute::Commitments,
        requester: address(requester),
        issued_at_ms,
        session: [session; 16],
        identity: identity.clone(),
        body: Vec::new(),
    };
    EnrolmentRequestView::signed(&request, signer)
}

fn refusal(result: Result<CommitmentView, ClientError>) -> (u16, String) {
    match result {
        Err(ClientError::Api { status, body }) => (status, body.error),
        other => panic!("not refused: {other:?}"),
    }
}

#[test]
fn identities_enrol_against_the_threshold_pkg_and_the_service_refuses_what_it_must() {
    let network = Network::start(4);
    wait_for_pkg(&network);
    let node = network.node_client(0);

    // All validators up: a patient enrols under its pseudonym, keys stored encrypted.
    let (patient, patient_key) = keygen(&network, "patient.key");
    let enrolled = network.json(&["identity", "enrol", "--key", &patient, "--role", "patient"]);
    let pseudonym = IdentityName::patient_pseudonym(&address(&patient_key));
    assert_eq!(enrolled["identity"], pseudonym.as_str());
    assert_eq!(enrolled["threshold"], 3);
    assert_eq!(enrolled["answered_by"].as_array().unwrap().len(), 3);
    let stored = keys::load_key(std::path::Path::new(&patient), |_| {
        Ok(PASSPHRASE.to_string().into())
    })
    .unwrap();
    assert!(
        stored.entity_keys.is_some(),
        "the identity keys are in the key file"
    );
    let patient_address = address(&patient_key).to_string();
    let shown = network.json(&["identity", "show", "--address", &patient_address]);
    assert_eq!(shown["value"]["role"], "patient");
    assert_eq!(shown["value"]["address"], address(&patient_key).to_string());
    let again = network.fails(&["identity", "enrol", "--key", &patient, "--role", "patient"]);
    assert!(again.contains("holds identity keys already"), "{again}");

    // The patient's identity is bound to the patient: another key asking for it is refused,
    // and so is a key whose identity is not bound at all.
    let (_, thief) = keygen(&network, "thief.key");
    assert_eq!(
        refusal(node.pkg_commitment(&round_one(&network, &thief, &thief, &pseudonym, 1))),
        (403, "identity_bound_elsewhere".into())
    );
    let unbound = IdentityName::patient_pseudonym(&address(&thief));
    assert_eq!(
        refusal(node.pkg_commitment(&round_one(&network, &thief, &thief, &unbound, 1))),
        (403, "identity_not_enrolled".into())
    );
    // A request naming the patient but signed by the thief; and a replay of a stale one.
    assert_eq!(
        refusal(node.pkg_commitment(&round_one(&network, &patient_key, &thief, &pseudonym, 1))),
        (400, "bad_signature".into())
    );
    let stale = signed_at(
        &network,
        &patient_key,
        &patient_key,
        &pseudonym,
        1,
        now_ms() - 600_000,
    );
    assert_eq!(
        refusal(node.pkg_commitment(&stale)),
        (400, "stale_request".into())
    );
    let mut edited = round_one(&network, &patient_key, &patient_key, &pseudonym, 1);
    edited.session = hex::encode([2u8; 16]);
    assert_eq!(
        refusal(node.pkg_commitment(&edited)),
        (400, "bad_signature".into()),
        "a changed field breaks the signature"
    );

    // A flood of round-1 requests from one enrolled address is bounded per requester, and a
    // session id answers once.
    let first = round_one(&network, &patient_key, &patient_key, &pseudonym, 10);
    node.pkg_commitment(&first).unwrap();
    assert_eq!(
        refusal(node.pkg_commitment(&first)),
        (409, "session_exists".into())
    );
    let flood: Vec<(u16, String)> = (11..20)
        .filter_map(|session| {
            node.pkg_commitment(&round_one(
                &network,
                &patient_key,
                &patient_key,
                &pseudonym,
                session,
            ))
            .err()
            .map(|error| refusal(Err(error)))
        })
        .collect();
    assert_eq!(
        flood.len(),
        9 - 3,
        "4 open sessions per requester: {flood:?}"
    );
    assert!(
        flood
            .iter()
            .all(|refused| *refused == (429, "too_many_sessions".into()))
    );

    // One Byzantine validator: its partial key fails the check, it is named and left out, and
    // the enrolment completes with the three honest ones.
    let byzantine = byzantine_node(&network, 3);
    let honest: Vec<String> = (0..3).map(|i| network.nodes[i].api.clone()).collect();
    let (second, _) = keygen(&network, "second.key");
    let enrolled = network.json(&[
        "identity",
        "enrol",
        "--key",
        &second,
        "--role",
        "patient",
        "--pkg-node",
        &byzantine,
        "--pkg-node",
        &honest[0],
        "--pkg-node",
        &honest[1],
        "--pkg-node",
        &honest[2],
    ]);
    let left_out = enrolled["left_out"].as_array().unwrap();
    assert_eq!(left_out.len(), 1, "{enrolled}");
    assert_eq!(left_out[0]["node"], byzantine.as_str());
    assert!(
        left_out[0]["reason"]
            .as_str()
            .unwrap()
            .contains("fails the check"),
        "{enrolled}"
    );
    assert_eq!(enrolled["answered_by"], serde_json::json!(honest));

    // Only t − 1 validators reachable: a clear error naming the unreachable one. The binding
    // is final; running the command again with the validators reachable finishes.
    let (third, _) = keygen(&network, "third.key");
    let error = network.fails(&[
        "identity",
        "enrol",
        "--key",
        &third,
        "--role",
        "patient",
        "--pkg-node",
        &honest[0],
        "--pkg-node",
        &honest[1],
        "--pkg-node",
        "http://127.0.0.1:1",
    ]);
    assert!(
        error.contains("2 of the 3 validators needed answered"),
        "{error}"
    );
    assert!(error.contains("http://127.0.0.1:1"), "{error}");
    let finished = network.json(&["identity", "enrol", "--key", &third, "--role", "patient"]);
    assert_eq!(finished["sent_binding"], false, "{finished}");

    // A doctor of a hospital the regulator later suspends obtains no keys.
    let (doctor, doctor_key) = keygen(&network, "doctor.key");
    let regulator = network.regulator_key.display().to_string();
    network.ok(&[
        "org",
        "register",
        "--key",
        &doctor,
        "--name",
        "Seoul General",
        "--kind",
        "hospital",
    ]);
    network.ok(&[
        "org",
        "approve",
        "--key",
        &regulator,
        "--name",
        "Seoul General",
    ]);
    let name = IdentityName::new("dr-kim@seoul-general").unwrap();
    network.json(&[
        "identity",
        "enrol",
        "--key",
        &doctor,
        "--role",
        "doctor",
        "--name",
        name.as_str(),
    ]);
    network.ok(&[
        "org",
        "suspend",
        "--key",
        &regulator,
        "--name",
        "Seoul General",
    ]);
    let refused =
        refusal(node.pkg_commitment(&round_one(&network, &doctor_key, &doctor_key, &name, 1)));
    assert_eq!(refused, (403, "not_audited_member".into()));
}

/// A validator that answers the enrolment routes with a share of its own instead of its
/// master-key share, at validator `index`'s evaluation point: its commitments look right, its
/// partial keys do not. Returns its URL.
fn byzantine_node(network: &Network, index: usize) -> String {
    let client = network.client(0);
    let pkg = client.read(&StateQuery::pkg()).unwrap().value.unwrap();
    let coefficients: Vec<[u8; 48]> = pkg.public_polynomial.iter().map(|c| c.0).collect();
    let polynomial = taka::PublicPolynomial::from_compressed_coefficients(&coefficients).unwrap();
    let genesis = keys::read_genesis(&network.genesis).unwrap();
    let honest = network.node_client(index);
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let nonces: Arc<Mutex<Vec<taka::SigningNonces>>> = Arc::default();
    thread::spawn(move || {
        for mut stream in listener.incoming().map_while(Result::ok) {
            let (path, body) = read_request(&mut stream);
            if !path.starts_with("/v1/pkg/") {
                // Not an enrolment route (e.g. the enrollee's status poll): no answer.
                continue;
            }
            let view: EnrolmentRequestView = serde_json::from_slice(&body).unwrap();
            let answer = match path.as_str() {
                "/v1/pkg/commitments" => {
                    // The honest validator's point, a forged share behind it.
                    let x = honest.pkg_commitment(&view).unwrap().x;
                    let share = taka::MasterKeyShare::from_be_bytes(x, &[7; 32]).unwrap();
                    let (mine, commitment) = share.commit(&mut rand_core_06::OsRng);
                    nonces.lock().unwrap().push(mine);
                    serde_json::to_value(CommitmentView {
                        x,
                        commitment: hex::encode(commitment.to_bytes()),
                        validator: Address::from_bytes([0; 32]),
                    })
                }
                _ => {
                    let (request, _) = view
                        .decode(&genesis.chain_id, EnrolmentRoute::PartialKeys)
                        .unwrap();
                    let extraction = taka::ExtractionRequest::from_bytes(&request.body).unwrap();
                    let mine = nonces.lock().unwrap().pop().unwrap();
                    let x = mine.commitment().x();
                    let share = taka::MasterKeyShare::from_be_bytes(x, &[7; 32]).unwrap();
                    let partial = share.extract(mine, &extraction, &polynomial).unwrap();
                    let sealed = taka::SealedPartialKey::seal(
                        &partial,
                        &extraction,
                        &mut rand_core_06::OsRng,
                    )
                    .unwrap();
                    serde_json::to_value(PartialKeyView {
                        x,
                        sealed: hex::encode(sealed.to_bytes()),
                        validator: Address::from_bytes([0; 32]),
                    })
                }
            }
            .unwrap();
            let text = answer.to_string();
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{text}",
                text.len()
            );
        }
    });
    url
}

/// The path and body of one HTTP/1.1 request.
fn read_request(stream: &mut std::net::TcpStream) -> (String, Vec<u8>) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    let path = line
        .split_whitespace()
        .nth(1)
        .unwrap_or_default()
        .to_string();
    let mut length = 0;
    loop {
        let mut header = String::new();
        reader.read_line(&mut header).unwrap();
        if header.trim().is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':')
            && name.eq_ignore_ascii_case("content-length")
        {
            length = value.trim().parse().unwrap();
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).unwrap();
    (path, body)
}
