//! The HTTP API's inputs and answers: JSON bodies (`medchain-api` views, which the node parses
//! as requests and clients parse as answers), the genesis document clients load, and the path
//! segments the node parses.

use crate::{chain, fixtures, select};
use commonware_codec::{DecodeExt as _, Encode as _};
use medchain_api::{
    AccessLogView, BatchRequest, BatchResponse, BlockView, ErrorBody, HeaderView, ProvenView,
    StatusView, SubmitRequest, SubmitResponse, TxStatusView,
};
use medchain_client::LightClient;
use medchain_state::{keys, values::AccessLogEntry};
use medchain_types::{Address, ConsentId, Genesis, OrgName, Payload, Purpose, RecordId, TxId};
use serde::{Serialize, de::DeserializeOwned};
use std::{fmt::Display, str::FromStr};

/// The first byte picks what the rest is parsed as. Every JSON type that parses prints JSON
/// that parses back to the same JSON; what a client then verifies (headers, blocks, proven
/// values, the genesis it trusts) fails with a typed error; what the node decodes next
/// (transaction hex) goes through the `transaction` target's checks; a payload given as JSON
/// encodes to binary that decodes back to it; a path segment that parses prints back the same.
pub fn api_json(data: &[u8]) {
    let Some((choice, text)) = select(data, 14) else {
        return;
    };
    match choice {
        0 => {
            if let Some(view) = json::<HeaderView>(text) {
                let _ = light().verify_header(&view, None);
            }
        }
        1 => {
            if let Some(view) = json::<BlockView>(text) {
                let _ = light().verify_block(&view);
            }
        }
        2 => {
            let _ = json::<StatusView>(text);
        }
        3 => {
            if let Some(request) = json::<SubmitRequest>(text) {
                transaction_hex(&request.tx);
            }
        }
        4 => {
            let _ = json::<SubmitResponse>(text);
        }
        5 => {
            if let Some(request) = json::<BatchRequest>(text) {
                request.txs.iter().for_each(|tx| transaction_hex(tx));
            }
        }
        6 => {
            let _ = json::<BatchResponse>(text);
        }
        7 => {
            let _ = json::<TxStatusView>(text);
        }
        8 => {
            if let Some(view) = json::<ProvenView>(text) {
                let _ = view.proven.verify();
                let _ = light().verify_proven(&view, &keys::chain_config());
            }
        }
        9 => {
            if let Some(page) = json::<AccessLogView>(text) {
                for entry in page.entries {
                    let _ = serde_json::from_value::<AccessLogEntry>(entry);
                }
            }
        }
        10 => {
            let _ = json::<ErrorBody>(text);
        }
        11 => {
            if let Some(genesis) = json::<Genesis>(text) {
                let _ = LightClient::new(genesis);
            }
        }
        12 => {
            if let Some(payload) = json::<Payload>(text) {
                let decoded =
                    Payload::decode(payload.encode()).expect("an encoded payload decodes");
                assert_eq!(decoded, payload, "binary form changed a JSON payload");
            }
        }
        _ => path_segment(text),
    }
}

fn light() -> &'static LightClient {
    &fixtures::chain().light
}

/// Parses `text` as `T`; if it parses, its printed form must parse back to the same JSON.
fn json<T: Serialize + DeserializeOwned>(text: &[u8]) -> Option<T> {
    let value: T = serde_json::from_slice(text).ok()?;
    let printed = serde_json::to_string(&value).expect("a parsed value serializes");
    let again: T = serde_json::from_str(&printed)
        .unwrap_or_else(|e| panic!("printed JSON does not parse back: {e}: {printed}"));
    assert_eq!(
        serde_json::to_string(&again).expect("serializes"),
        printed,
        "JSON round trip changed the value"
    );
    Some(value)
}

/// Decodes a transaction's hex as the node's submit handler does, then checks it as the
/// `transaction` target does.
fn transaction_hex(text: &str) {
    if let Ok(bytes) = hex::decode(text.trim()) {
        chain::transaction(&bytes);
    }
}

/// A path segment as each `/v1/...` route parses it.
fn path_segment(text: &[u8]) {
    let Ok(text) = std::str::from_utf8(text) else {
        return;
    };
    text_round_trip::<Address>(text);
    text_round_trip::<TxId>(text);
    text_round_trip::<RecordId>(text);
    text_round_trip::<ConsentId>(text);
    text_round_trip::<OrgName>(text);
    text_round_trip::<u64>(text);
    if let Ok(purpose) = serde_json::from_value::<Purpose>(text.into()) {
        assert_eq!(serde_json::to_value(purpose).ok(), Some(text.into()));
    }
}

fn text_round_trip<T>(text: &str)
where
    T: FromStr + Display + PartialEq + std::fmt::Debug,
{
    if let Ok(value) = text.parse::<T>() {
        let printed = value.to_string();
        assert_eq!(
            printed.parse::<T>().ok(),
            Some(value),
            "{text:?} printed as {printed:?}"
        );
    }
}
