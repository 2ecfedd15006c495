//! `medchain … | head`: a reader that stops early must not turn into a panic report.

use std::process::{Command, Stdio};

#[test]
fn a_closed_stdout_ends_the_command_quietly() {
    let dir = tempfile::tempdir().unwrap();
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader); // like `| head` that has already exited: every write fails with EPIPE
    let output = Command::new(env!("CARGO_BIN_EXE_medchain"))
        .args(["keygen", "--out", "doctor.key"])
        .current_dir(dir.path())
        .env("MEDCHAIN_PASSPHRASE", "correct horse battery staple")
        .stdout(writer)
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(output.status.code(), Some(141), "{stderr}");
    assert!(dir.path().join("doctor.key").exists(), "the work was done");
}
