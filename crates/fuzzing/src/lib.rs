//! Fuzz-target bodies for every decoder of untrusted bytes in medchain.
//!
//! Each public function takes arbitrary bytes, decodes them with the project's real decoder
//! and checks what must hold for *any* input:
//!
//! - it never panics (a panic is the bug libFuzzer reports);
//! - what decodes re-encodes to the same bytes where the format is canonical, and otherwise
//!   decodes again to the same value (decode → encode → decode);
//! - verification of what decodes (signatures, certificates, Merkle proofs, SNARK proofs) fails
//!   with a typed error, and when it succeeds (a valid seed input), it is bound to exactly what
//!   was signed or proven: changing one signed field makes it fail.
//!
//! The cargo-fuzz targets in `fuzz/fuzz_targets/` call these functions, and this crate's
//! `corpus` test replays every committed corpus file through them, so CI re-checks every input
//! the fuzzers ever kept. [`TARGETS`] names them all. `docs/reliability.md` says how to run the
//! fuzzers and what each covers.

mod api;
mod certificate;
mod chain;
pub mod fixtures;
mod proof;
mod taka_wire;
mod zk_wire;

pub use api::api_json;
pub use certificate::certificate;
pub use chain::{block, payload, transaction};
pub use proof::state_proof;
pub use taka_wire::taka_wire;
pub use zk_wire::{zk_text, zk_wire};

/// A fuzz target's body.
pub type Target = fn(&[u8]);

/// Every fuzz target: its name (the cargo-fuzz target and the `fuzz/corpus/` directory) and
/// its body.
pub const TARGETS: &[(&str, Target)] = &[
    ("transaction", transaction),
    ("payload", payload),
    ("block", block),
    ("certificate", certificate),
    ("state_proof", state_proof),
    ("api_json", api_json),
    ("taka_wire", taka_wire),
    ("zk_wire", zk_wire),
    ("zk_text", zk_text),
];

/// Splits multi-decoder input: the first byte picks one of `choices` decoders, the rest is
/// that decoder's input. Empty input picks nothing.
fn select(data: &[u8], choices: usize) -> Option<(usize, &[u8])> {
    let (first, rest) = data.split_first()?;
    Some((usize::from(*first) % choices, rest))
}

/// Decodes `bytes`; if that succeeds, encoding gives `bytes` back (for canonical codecs).
fn canonical<T, E>(
    bytes: &[u8],
    decode: impl FnOnce(&[u8]) -> Result<T, E>,
    encode: impl FnOnce(&T) -> Vec<u8>,
) -> Option<T> {
    let value = decode(bytes).ok()?;
    assert_eq!(
        encode(&value),
        bytes,
        "{} encoding is not canonical",
        std::any::type_name::<T>()
    );
    Some(value)
}

/// The JSON form of a decoded value (how the API shows it) reads back as the same value.
fn json_form_agrees<T>(value: &T)
where
    T: serde::Serialize + serde::de::DeserializeOwned + PartialEq + std::fmt::Debug,
{
    let json = serde_json::to_string(value).expect("a decoded value serializes");
    match serde_json::from_str::<T>(&json) {
        Ok(back) => assert_eq!(&back, value, "its JSON form changed the value: {json}"),
        // Binary decoding keeps any 32 bytes as an address (decompressing every address
        // would dominate execution); transaction verification refuses a payload naming a
        // non-key (issue 7 §4), so the chain only ever stores keys, while raw decoded bytes
        // may hold one the JSON form refuses.
        Err(error) => assert!(
            error.to_string().contains("not a valid ed25519 public key"),
            "the JSON form of a decoded value does not parse: {error}: {json}"
        ),
    }
}
