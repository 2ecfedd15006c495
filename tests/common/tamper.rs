//! A lying node for end-to-end tests: a loopback HTTP proxy in front of one real node that
//! forwards every request and alters the answers under one path prefix, the way a compromised
//! or buggy node would. A light client behind it must refuse what was altered and still accept
//! the rest.

use axum::{
    Router,
    body::Body,
    extract::{Request, State},
    http::{StatusCode, header},
    response::{IntoResponse, Response},
};
use hyper_util::{
    client::legacy::{Client, connect::HttpConnector},
    rt::TokioExecutor,
};
use serde_json::Value;
use std::sync::{Arc, Mutex};

/// A running proxy; dropping it stops it.
pub struct TamperingProxy {
    /// `http://127.0.0.1:PORT`: give it to a client in place of the node's URL.
    pub url: String,
    shared: Arc<Shared>,
    // Last: the server's tasks stop when the runtime drops.
    _runtime: tokio::runtime::Runtime,
}

struct Shared {
    /// The node's URL, without a trailing slash.
    node: String,
    /// Answers to paths starting with this are altered.
    prefix: String,
    client: Client<HttpConnector, Body>,
    /// Path and query of every answer altered so far.
    tampered: Mutex<Vec<String>>,
}

impl TamperingProxy {
    /// Serves on a free loopback port in front of `node` (`http://127.0.0.1:PORT`), altering
    /// the proven values in the answers to paths starting with `prefix` (see [`tamper`]).
    pub fn start(node: &str, prefix: &str) -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("tokio runtime");
        let shared = Arc::new(Shared {
            node: node.trim_end_matches('/').to_string(),
            prefix: prefix.to_string(),
            client: Client::builder(TokioExecutor::new()).build_http(),
            tampered: Mutex::default(),
        });
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .expect("bind a loopback port");
        let url = format!("http://{}", listener.local_addr().expect("local address"));
        let app = Router::new()
            .fallback(forward)
            .with_state(Arc::clone(&shared));
        runtime.spawn(async move { axum::serve(listener, app).await });
        Self {
            url,
            shared,
            _runtime: runtime,
        }
    }

    /// Path and query of every answer altered so far, in order.
    pub fn tampered(&self) -> Vec<String> {
        self.shared.tampered.lock().expect("not poisoned").clone()
    }
}

async fn forward(State(proxy): State<Arc<Shared>>, mut request: Request) -> Response {
    let target = request
        .uri()
        .path_and_query()
        .map_or("/", |target| target.as_str())
        .to_string();
    *request.uri_mut() = match format!("{}{target}", proxy.node).parse() {
        Ok(uri) => uri,
        Err(error) => return (StatusCode::BAD_REQUEST, error.to_string()).into_response(),
    };
    // The client names the node's host from the URI.
    request.headers_mut().remove(header::HOST);
    let answer = match proxy.client.request(request).await {
        Ok(answer) => answer,
        Err(error) => return (StatusCode::BAD_GATEWAY, error.to_string()).into_response(),
    };
    let (mut parts, body) = answer.into_parts();
    let body = Body::new(body);
    if !target.starts_with(&proxy.prefix) {
        return Response::from_parts(parts, body);
    }
    let bytes = match axum::body::to_bytes(body, usize::MAX).await {
        Ok(bytes) => bytes,
        Err(error) => return (StatusCode::BAD_GATEWAY, error.to_string()).into_response(),
    };
    let mut answer: Value = serde_json::from_slice(&bytes).unwrap_or_default();
    let altered = if tamper(&mut answer) {
        proxy.tampered.lock().expect("not poisoned").push(target);
        serde_json::to_vec(&answer).expect("JSON")
    } else {
        // Not JSON, or no proven value in it (an error body): passed on as it came.
        bytes.to_vec()
    };
    // The body's length changed hands: let the server frame it anew.
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.remove(header::TRANSFER_ENCODING);
    Response::from_parts(parts, Body::from(altered))
}

/// Alters every proven value present in a node's answer — any object with `state_root`,
/// `key`, `proof` and a hex `value`, as the node serialises a Merkle-proven state value — by
/// flipping the value's last hex digit (one bit, as a node lying about a value would), and
/// returns whether there was one. The decoded copies the node adds for display are left
/// alone: a client that showed those unverified would not notice.
pub fn tamper(answer: &mut Value) -> bool {
    match answer {
        Value::Object(fields)
            if ["state_root", "key", "proof"]
                .iter()
                .all(|field| fields.contains_key(*field)) =>
        {
            let Some(hex) = fields.get_mut("value").and_then(|value| match value {
                Value::String(hex) if !hex.is_empty() => Some(hex),
                _ => None,
            }) else {
                return false;
            };
            let flipped = if hex.ends_with('0') { '1' } else { '0' };
            hex.pop();
            hex.push(flipped);
            true
        }
        Value::Object(fields) => alter_each(fields.values_mut()),
        Value::Array(items) => alter_each(items.iter_mut()),
        _ => false,
    }
}

fn alter_each<'a>(values: impl Iterator<Item = &'a mut Value>) -> bool {
    let mut altered = false;
    for value in values {
        altered |= tamper(value);
    }
    altered
}
