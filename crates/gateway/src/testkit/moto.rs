//! A real S3 protocol server for the tests: moto's server (PyPI `moto[server]`, installed by
//! `.ci/run`), started as a subprocess on a free loopback port and killed when the guard drops.
//! If it cannot start, the test fails and says why; nothing is skipped.
//!
//! The interpreter is `$MEDCHAIN_PYTHON` when set (`.ci/run` sets it when it had to install moto
//! into a virtual environment), `python3` otherwise.

use std::{
    io::{Read as _, Write as _},
    net::{TcpListener, TcpStream},
    process::{Child, Command, Stdio},
    thread,
    time::{Duration, Instant},
};

/// Generous: a cold Python import of moto on a busy machine.
const START_TIMEOUT: Duration = Duration::from_secs(120);

/// A running moto server; dropping it kills the process.
pub struct Moto {
    child: Child,
    log: tempfile::NamedTempFile,
    /// `http://127.0.0.1:PORT`.
    pub endpoint: String,
}

impl Moto {
    /// Starts moto on a free port and waits until it answers HTTP.
    pub fn start() -> Self {
        let python = std::env::var("MEDCHAIN_PYTHON").unwrap_or_else(|_| "python3".into());
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .expect("a free loopback port")
            .port();
        let log = tempfile::NamedTempFile::new().expect("moto log file");
        let child = Command::new(&python)
            .args(["-m", "moto.server", "-H", "127.0.0.1", "-p", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(log.reopen().expect("log handle"))
            .stderr(log.reopen().expect("log handle"))
            .spawn()
            .unwrap_or_else(|error| {
                panic!(
                    "cannot run {python} for the S3 test server ({error}). Install it with `python3 -m pip install 'moto[server]'` (as .ci/run does) or set MEDCHAIN_PYTHON"
                )
            });
        let mut moto = Self {
            child,
            log,
            endpoint: format!("http://127.0.0.1:{port}"),
        };
        moto.wait_until_it_answers(&python, port);
        moto
    }

    fn wait_until_it_answers(&mut self, python: &str, port: u16) {
        let start = Instant::now();
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "the moto S3 server ({python} -m moto.server) exited with {status} before answering. Is `moto[server]` installed (`python3 -m pip install 'moto[server]'`, as .ci/run does)? Its output:\n{}",
                    self.output()
                );
            }
            if http(port, "GET", "/").is_some() {
                return;
            }
            assert!(
                start.elapsed() < START_TIMEOUT,
                "the moto S3 server did not answer on port {port} within {START_TIMEOUT:?}; its output:\n{}",
                self.output()
            );
            thread::sleep(Duration::from_millis(100));
        }
    }

    /// Creates `bucket` (moto accepts unsigned requests).
    pub fn create_bucket(&self, bucket: &str) {
        let port = self
            .endpoint
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok());
        let status = port.and_then(|port| http(port, "PUT", &format!("/{bucket}")));
        assert_eq!(
            status,
            Some(200),
            "moto did not create bucket {bucket}; its output:\n{}",
            self.output()
        );
    }

    fn output(&self) -> String {
        std::fs::read_to_string(self.log.path()).unwrap_or_else(|e| format!("(no output: {e})"))
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One HTTP/1.1 request with an empty body; the response's status code, if any came.
fn http(port: u16, method: &str, path: &str) -> Option<u16> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .ok()?;
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    response.split_whitespace().nth(1)?.parse().ok()
}
