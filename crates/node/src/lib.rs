//! The medchain validator node.
//!
//! This crate wires the pure state machine (`medchain-state`) and the durable store
//! (`medchain-storage`) into commonware's BFT stack: simplex consensus, marshal for ordered
//! finalized blocks, buffered broadcast for block bytes, a p2p resolver for backfill, and a
//! gossip channel for transactions. It holds no business rules: every decision about what a
//! transaction does is made by `medchain-state`.

pub mod api;
pub mod app;
pub mod chain;
pub mod config;
pub mod engine;
pub mod enrolment;
pub mod epochs;
pub mod finalizer;
pub mod gossip;
pub mod med;
pub mod med_checkpoint;
pub mod mempool;
pub mod metrics;
pub mod pkg;
pub mod run;
pub mod signing;
pub mod slashing;
