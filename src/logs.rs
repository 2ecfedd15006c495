//! Logs of the long-running commands (`medchain hospital`, `medchain portal`).

use std::io::IsTerminal as _;

/// Sends `tracing` logs to stderr, filtered by `RUST_LOG` (else `default_filter`), in colour
/// only on a terminal: these commands keep stdout for their start-up line alone.
pub fn to_stderr(default_filter: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_filter));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
}
