//! The HTTP client and the sign → submit → wait flow against a scripted node on loopback:
//! typed errors from the node's JSON bodies, transport failures with a hint, and a signer that
//! relies only on verified answers (nonce from a certified proof, inclusion in a certified
//! block).

mod common;

use common::*;
use commonware_codec::Encode as _;
use medchain_api::{
    BlockView, DroppedView, ErrorBody, HeaderView, ProvenView, SubmitRequest, TxState, TxStatusView,
};
use medchain_api::{IdKind, IdMatchesView};
use medchain_client::ListError;
use medchain_client::{
    Client, ClientError, LightClient, NodeClient, StateQuery, VerifyError, WaitPolicy, build,
};
use medchain_state::{
    keys,
    testkit::{Actor, World, org_name, record_id},
};
use medchain_types::Hash32;
use medchain_types::{
    AccessDecision, DenyReason, Event, Header, OrgKind, Purpose, Receipt, Transaction, TxId,
    receipts_root, receipts_tree, tx_root,
};
use std::{
    io::{BufRead, BufReader, Read, Write},
    net::{TcpListener, TcpStream},
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    thread,
    time::Duration,
};

type Handler = dyn Fn(&str, &str, &str) -> (u16, String) + Send + Sync;

/// A node that answers each request with `handler(method, path, body)`, one connection per
/// request, and logs the requests it saw.
struct ScriptedNode {
    url: String,
    log: Arc<Mutex<Vec<String>>>,
}

impl ScriptedNode {
    fn start(handler: impl Fn(&str, &str, &str) -> (u16, String) + Send + Sync + 'static) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let log = Arc::new(Mutex::new(Vec::new()));
        let seen = log.clone();
        let handler: Arc<Handler> = Arc::new(handler);
        thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                serve(stream, &*handler, &seen);
            }
        });
        Self { url, log }
    }

    fn client(&self) -> NodeClient {
        NodeClient::with_timeout(&self.url, Duration::from_secs(5)).unwrap()
    }

    fn requests(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }
}

fn serve(stream: TcpStream, handler: &Handler, log: &Mutex<Vec<String>>) {
    let mut reader = BufReader::new(stream);
    let mut request_line = String::new();
    reader.read_line(&mut request_line).unwrap();
    let mut length = 0;
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        if line.trim().is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':')
            && name.eq_ignore_ascii_case("content-length")
        {
            length = value.trim().parse().unwrap();
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).unwrap();
    let mut parts = request_line.split_whitespace();
    let (method, path) = (parts.next().unwrap(), parts.next().unwrap());
    log.lock().unwrap().push(format!("{method} {path}"));
    let (status, reply) = handler(method, path, &String::from_utf8(body).unwrap());
    let mut stream = reader.into_inner();
    write!(
        stream,
        "HTTP/1.1 {status} Scripted\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{reply}",
        reply.len()
    )
    .unwrap();
}

fn json(value: &impl serde::Serialize) -> String {
    serde_json::to_string(value).unwrap()
}

fn error_body(code: &str) -> String {
    json(&ErrorBody {
        error: code.into(),
        message: "rejected by the state machine: unknown organisation".into(),
        hint: "fix its content".into(),
    })
}

#[test]
fn a_node_error_body_comes_back_as_a_typed_error() {
    let node = ScriptedNode::start(|_, _, _| (422, error_body("rejected")));
    let tx = build::register_org(org_name("X"), OrgKind::Hospital);
    let signed = Actor::new(1).sign(0, tx).tx().clone();
    let error = node.client().submit(&signed).unwrap_err();
    assert!(matches!(&error, ClientError::Api { status: 422, body } if body.error == "rejected"));
    assert_eq!(error.api_code(), Some("rejected"));
    assert!(
        error.to_string().contains("Hint: fix its content"),
        "{error}"
    );
}

#[test]
fn answers_that_are_not_the_expected_json_are_reported_with_their_status() {
    let node = ScriptedNode::start(|_, path, _| match path {
        "/v1/status" => (200, "{\"height\": \"not a number\"}".into()),
        _ => (502, "<html>bad gateway</html>".into()),
    });
    assert!(matches!(
        node.client().status(),
        Err(ClientError::BadResponse { status: 200, .. })
    ));
    let error = node.client().block(3).unwrap_err();
    assert!(
        matches!(&error, ClientError::BadResponse { status: 502, detail, .. } if detail.contains("bad gateway")),
        "{error:?}"
    );
}

#[test]
fn an_unreachable_node_is_reported_with_what_to_do() {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let error = NodeClient::new(&format!("http://127.0.0.1:{port}"))
        .unwrap()
        .status()
        .unwrap_err();
    assert!(matches!(error, ClientError::Unreachable { .. }));
    assert!(error.to_string().contains("medchain devnet"), "{error}");
}

#[test]
fn a_node_acknowledging_another_id_is_caught() {
    let node = ScriptedNode::start(|_, _, _| {
        (
            202,
            json(&serde_json::json!({ "id": TxId(record_id(9).0) })),
        )
    });
    let signed = Actor::new(1)
        .sign(0, build::register_org(org_name("X"), OrgKind::Hospital))
        .tx()
        .clone();
    assert!(matches!(
        node.client().submit(&signed),
        Err(ClientError::WrongId { .. })
    ));
}

/// A chain where actor 1 registered an organisation (so its next nonce is 1) and a record
/// exists for access requests.
struct Scenario {
    world: World,
    actor: Actor,
}

impl Scenario {
    fn new() -> Self {
        let mut world = World::new();
        let actor = Actor::new(1);
        world
            .run(
                &actor,
                build::register_org(org_name("Seoul General"), OrgKind::Hospital),
            )
            .unwrap();
        Self { world, actor }
    }

    /// The certified account proof a node serves for the actor.
    fn account_view(&self, certified: bool) -> String {
        let header = header_at(&self.world);
        let key = keys::account(&self.actor.address);
        json(&ProvenView {
            value: None,
            proven: proven(&self.world, key.as_bytes()),
            header: HeaderView::from(&header),
            finalization: certified
                .then(|| certified_by(&[1, 2, 3], &header))
                .flatten(),
        })
    }

    /// The next block, holding `txs`, certified.
    /// A certified block holding `txs` whose header commits to `receipts`.
    fn block_view(&self, txs: &[TxId], receipts: &[Receipt]) -> String {
        let leaves: Vec<_> = receipts.iter().map(Receipt::leaf).collect();
        let header = Header {
            height: self.world.height() + 1,
            tx_root: tx_root(txs),
            receipts_root: receipts_root(&leaves),
            ..header_at(&self.world)
        };
        json(&BlockView {
            header: HeaderView::from(&header),
            tx_ids: txs.to_vec(),
            finalization: certified_by(&[0, 1, 2], &header),
        })
    }

    fn client(&self, node: &ScriptedNode) -> Client {
        Client::new(node.client(), LightClient::new(genesis()).unwrap())
    }
}

fn decode_submitted(body: &str) -> Transaction {
    let request: SubmitRequest = serde_json::from_str(body).unwrap();
    Transaction::from_bytes(&hex::decode(request.tx).unwrap()).unwrap()
}

/// What the scripted node does with the receipt it serves.
#[derive(Clone, Copy, PartialEq)]
enum ReceiptServed {
    /// The receipt the block commits to, with its proof.
    Honest,
    /// The access decision turned from allowed to denied after the proof was made.
    Tampered,
}

/// The receipt the block of a scripted chain commits to: access allowed.
fn committed_receipt(scenario: &Scenario, tx: TxId, height: u64, index: u32) -> Receipt {
    Receipt {
        tx,
        height,
        index,
        events: vec![Event::AccessDecided {
            record: record_id(1),
            requester: scenario.actor.address,
            purpose: Purpose::Treatment,
            decision: AccessDecision::Allowed { consent: None },
        }],
    }
}

/// A node that accepts one transaction, reports it pending `pending_polls` times, then
/// finalized at `receipt_index` of the next block (which holds only it).
fn scripted_chain(
    scenario: Arc<Scenario>,
    pending_polls: usize,
    receipt_index: u32,
) -> ScriptedNode {
    scripted_chain_serving(
        scenario,
        pending_polls,
        receipt_index,
        ReceiptServed::Honest,
    )
}

fn scripted_chain_serving(
    scenario: Arc<Scenario>,
    pending_polls: usize,
    receipt_index: u32,
    served: ReceiptServed,
) -> ScriptedNode {
    let submitted: Arc<Mutex<Option<TxId>>> = Arc::default();
    let polls = AtomicUsize::new(0);
    ScriptedNode::start(move |method, path, body| {
        let height = scenario.world.height() + 1;
        match (method, path) {
            ("GET", p) if p.starts_with("/v1/state/accounts/") => {
                (200, scenario.account_view(true))
            }
            ("POST", "/v1/transactions") => {
                let tx = decode_submitted(body);
                assert_eq!(tx.body.nonce, 1, "the signer used the verified nonce");
                *submitted.lock().unwrap() = Some(tx.id());
                (
                    202,
                    json(&serde_json::json!({ "id": tx.id(), "status": "pending" })),
                )
            }
            ("GET", p) if p.starts_with("/v1/transactions/") => {
                let id = submitted.lock().unwrap().unwrap();
                let finalized = polls.fetch_add(1, Ordering::SeqCst) >= pending_polls;
                let mut view = TxStatusView {
                    id,
                    status: TxState::Pending,
                    receipt: None,
                    receipt_proof: None,
                    waiting_for: None,
                    dropped: None,
                };
                if finalized {
                    let committed = committed_receipt(&scenario, id, height, receipt_index);
                    let proof = receipts_tree(&[committed.leaf()]).proof(0).unwrap();
                    let mut served_receipt = committed;
                    if served == ReceiptServed::Tampered {
                        served_receipt.events = vec![Event::AccessDecided {
                            record: record_id(1),
                            requester: scenario.actor.address,
                            purpose: Purpose::Treatment,
                            decision: AccessDecision::Denied {
                                reason: DenyReason::NoConsent,
                            },
                        }];
                    }
                    view.status = TxState::Finalized;
                    view.receipt = Some(served_receipt);
                    view.receipt_proof = Some(hex::encode(proof.encode()));
                }
                (200, json(&view))
            }
            ("GET", p) if p == format!("/v1/blocks/{height}") => {
                let id = submitted.lock().unwrap().unwrap();
                let committed = committed_receipt(&scenario, id, height, 0);
                (200, scenario.block_view(&[id], &[committed]))
            }
            _ => (404, error_body("not_found")),
        }
    })
}

fn quick_policy(timeout_ms: u64) -> WaitPolicy {
    WaitPolicy {
        timeout: Duration::from_millis(timeout_ms),
        first_interval: Duration::from_millis(10),
        max_interval: Duration::from_millis(50),
    }
}

/// The scenario's actor requests access through `node` and waits for a verified finality.
fn request_and_wait(
    scenario: &Scenario,
    node: &ScriptedNode,
) -> Result<medchain_client::Sent, ClientError> {
    scenario
        .client(node)
        .signer(scenario.actor.key.clone())
        .send(
            build::request_access(record_id(1), Purpose::Treatment, 0),
            Some(&quick_policy(5_000)),
        )
}

#[test]
fn a_signer_uses_the_verified_nonce_and_confirms_inclusion_in_a_certified_block() {
    let scenario = Arc::new(Scenario::new());
    let node = scripted_chain(scenario.clone(), 2, 0);
    let client = scenario.client(&node);
    assert_eq!(client.next_nonce(&scenario.actor.address).unwrap(), 1);

    let signer = client.signer(scenario.actor.key.clone());
    let sent = signer
        .send(
            build::request_access(record_id(1), Purpose::Treatment, 0),
            Some(&quick_policy(5_000)),
        )
        .unwrap();
    assert_eq!(sent.nonce, 1);
    let confirmed = sent.confirmed.expect("waited for finality");
    assert_eq!(confirmed.receipt.tx, sent.id);
    assert_eq!(confirmed.block.tx_ids, vec![sent.id]);
    assert_eq!(
        confirmed.access_decision(),
        Some(&AccessDecision::Allowed { consent: None })
    );
    let polls = node
        .requests()
        .iter()
        .filter(|r| r.starts_with("GET /v1/transactions/"))
        .count();
    assert_eq!(polls, 3, "two pending polls, then the finalized one");
}

#[test]
fn a_receipt_naming_a_position_that_does_not_hold_the_transaction_is_refused() {
    let scenario = Arc::new(Scenario::new());
    let node = scripted_chain(scenario.clone(), 0, 1);
    let error = request_and_wait(&scenario, &node).unwrap_err();
    assert!(
        matches!(
            error,
            ClientError::Verify(VerifyError::NotIncluded { index: 1, .. })
        ),
        "{error:?}"
    );
}

/// Issue 7 §2: a node (or a proxy in front of it) that turns an access decision from allowed
/// into denied is caught: the receipt no longer matches the header's receipts root.
#[test]
fn a_tampered_receipt_is_refused() {
    let scenario = Arc::new(Scenario::new());
    let node = scripted_chain_serving(scenario.clone(), 0, 0, ReceiptServed::Tampered);
    let error = request_and_wait(&scenario, &node).unwrap_err();
    assert!(
        matches!(
            error,
            ClientError::Verify(VerifyError::ReceiptMismatch { .. })
        ),
        "{error:?}"
    );
}

#[test]
fn a_dropped_transaction_is_reported_at_once_with_its_reason() {
    let scenario = Arc::new(Scenario::new());
    let node = ScriptedNode::start(move |method, path, _| match (method, path) {
        ("GET", p) if p.starts_with("/v1/transactions/") => (
            200,
            json(&TxStatusView {
                id: TxId::of_encoded(b"lost race"),
                status: TxState::Dropped,
                receipt: None,
                receipt_proof: None,
                waiting_for: None,
                dropped: Some(DroppedView {
                    reason: "failed".into(),
                    error: Some("org_exists".into()),
                    message: "failed when a block was built: organisation exists".into(),
                    height: 9,
                }),
            }),
        ),
        _ => (404, error_body("not_found")),
    });
    let id = TxId::of_encoded(b"lost race");
    let error = scenario
        .client(&node)
        .wait_finalized(&id, &quick_policy(60_000))
        .unwrap_err();
    match error {
        ClientError::Dropped { id: got, reason } => {
            assert_eq!(got, id);
            assert_eq!(reason.error.as_deref(), Some("org_exists"));
        }
        other => panic!("expected a drop, got {other:?}"),
    }
    assert_eq!(node.requests().len(), 1, "no polling after a drop");
}

#[test]
fn waiting_gives_up_after_the_timeout_with_the_last_status() {
    let scenario = Arc::new(Scenario::new());
    let node = scripted_chain(scenario.clone(), usize::MAX, 0);
    let client = scenario.client(&node);
    let sent = client
        .signer(scenario.actor.key.clone())
        .send(
            build::request_access(record_id(1), Purpose::Treatment, 0),
            None,
        )
        .unwrap();
    assert!(sent.confirmed.is_none());
    let error = client
        .wait_finalized(&sent.id, &quick_policy(200))
        .unwrap_err();
    assert!(
        matches!(
            error,
            ClientError::Timeout {
                status: TxState::Pending,
                ..
            }
        ),
        "{error:?}"
    );
}

#[test]
fn a_signer_never_submits_on_an_unverified_nonce() {
    let scenario = Arc::new(Scenario::new());
    let view = scenario.account_view(false);
    let node = ScriptedNode::start(move |_, path, _| match path {
        p if p.starts_with("/v1/state/accounts/") => (200, view.clone()),
        _ => (202, "{}".into()),
    });
    let client = scenario.client(&node);
    let error = client
        .signer(scenario.actor.key.clone())
        .send(
            build::request_access(record_id(1), Purpose::Treatment, 0),
            None,
        )
        .unwrap_err();
    assert!(
        matches!(
            error,
            ClientError::Verify(VerifyError::MissingCertificate { .. })
        ),
        "{error:?}"
    );
    assert!(
        node.requests().iter().all(|r| !r.starts_with("POST")),
        "{:?}",
        node.requests()
    );
}

#[test]
fn verified_reads_check_the_proof_is_for_the_question_asked() {
    // The node answers a question about another account with a valid proof of the actor's.
    let scenario = Arc::new(Scenario::new());
    let view = scenario.account_view(true);
    let node = ScriptedNode::start(move |_, _, _| (200, view.clone()));
    let client = scenario.client(&node);
    assert_eq!(
        client
            .read(&StateQuery::account(&scenario.actor.address))
            .unwrap()
            .value
            .unwrap()
            .nonce,
        1
    );
    let other = Actor::new(2).address;
    assert!(matches!(
        client.read(&StateQuery::account(&other)),
        Err(ClientError::Verify(VerifyError::Proof(_)))
    ));
}

#[test]
fn an_id_lookup_is_checked_against_the_prefix_and_must_be_complete() {
    let answer = |matches: Vec<TxId>, complete| {
        json(&IdMatchesView {
            kind: IdKind::Record,
            prefix: "0000".into(),
            matches,
            complete,
        })
    };
    let lookup = |body: String| {
        let node = ScriptedNode::start(move |_, _, _| (200, body.clone()));
        let client = Client::new(node.client(), LightClient::new(genesis()).unwrap());
        let result = client.resolve_id(IdKind::Record, &"0000".parse().unwrap());
        assert_eq!(node.requests(), ["GET /v1/ids/record/0000"]);
        result
    };
    let inside = TxId(Hash32::from([0; 32]));
    assert_eq!(lookup(answer(vec![inside], true)).unwrap(), inside);
    // An id without the prefix is a lie, not a candidate.
    let foreign = TxId(Hash32::from([0xff; 32]));
    assert!(matches!(
        lookup(answer(vec![inside, foreign], true)),
        Err(ClientError::Verify(VerifyError::List(ListError::ForeignId { id, .. }))) if id == foreign
    ));
    // One match shown of possibly more is still ambiguous; none at all is not found.
    assert!(matches!(
        lookup(answer(vec![inside], false)),
        Err(ClientError::AmbiguousId {
            complete: false,
            ..
        })
    ));
    let error = lookup(answer(vec![], true)).unwrap_err();
    assert!(matches!(error, ClientError::NoSuchId { .. }), "{error:?}");
    assert!(
        error.to_string().contains("no record id starts with 0000"),
        "{error}"
    );
}
